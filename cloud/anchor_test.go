package cloud

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// ingestN uploads n new records of the patient and returns their IDs by index.
func (e *testEnv) ingestN(n int) map[uint64][32]byte {
	e.t.Helper()
	var raws [][]byte
	for range n {
		raw, _ := e.record(vital.Glucose)
		raws = append(raws, raw)
	}
	out := map[uint64][32]byte{}
	for _, a := range e.ingest(raws...) {
		out[a.Index] = a.ID
	}
	return out
}

// checkAnchors checks that the committed anchors of log form a chain of
// consistency proofs from the empty log, each extending the one before.
func checkAnchors(t *testing.T, l *fakeLedger, log uint8) []ledger.Anchor {
	t.Helper()
	prev := merklelog.Checkpoint{Root: merklelog.EmptyRoot()}
	anchors := l.committed(log)
	for i, a := range anchors {
		if a.Log != log || a.Sealed == 0 {
			t.Errorf("anchor %d: %+v", i, a)
		}
		if a.Checkpoint.Size <= prev.Size {
			t.Errorf("anchor %d: size %d after %d", i, a.Checkpoint.Size, prev.Size)
		}
		if err := merklelog.VerifyConsistency(prev, a.Checkpoint, a.Proof); err != nil {
			t.Errorf("anchor %d: %v", i, err)
		}
		prev = a.Checkpoint
	}
	return anchors
}

// A block is sealed when BlockRecords entries wait, not before (with a long
// BlockInterval).
func TestAnchorByCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.BlockRecords, c.BlockInterval = 4, time.Hour })
	ids := e.ingestN(4)
	first := e.led.waitAnchored(t, LogRecords, 4)
	if first.Size != 4 {
		t.Fatalf("anchored %d", first.Size)
	}
	e.ingestN(3)
	time.Sleep(250 * time.Millisecond) // more than two sealer ticks
	if cp := e.led.anchoredCP(LogRecords); cp.Size != 4 {
		t.Fatalf("anchored %d with 3 entries waiting of a block of 4", cp.Size)
	}
	e.ingestN(1)
	cp := e.led.waitAnchored(t, LogRecords, 8)
	anchors := checkAnchors(t, e.led, LogRecords)
	if len(anchors) != 2 || anchors[0].Checkpoint != first || cp.Size != 8 {
		t.Fatalf("anchors %+v", anchors)
	}
	// Every record proves into the anchored checkpoint.
	rc, ra, _, _ := e.svc.Checkpoints()
	if ra != cp || rc != cp {
		t.Fatalf("service checkpoints %+v %+v, ledger %+v", rc, ra, cp)
	}
	for idx, id := range ids {
		p, err := e.svc.records.log.Load().InclusionProof(idx, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := merklelog.VerifyInclusion(id[:], idx, cp, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.metric("vitalchain_cloud_anchors_committed_total", "log", "records"); got != 2 {
		t.Errorf("anchors_committed{records} = %v", got)
	}
	if got := e.metric("vitalchain_cloud_anchor_lag_records", "log", "records"); got != 0 {
		t.Errorf("anchor_lag{records} = %v", got)
	}
}

// A block is sealed when BlockInterval passes, however few entries wait.
func TestAnchorByInterval(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.BlockRecords, c.BlockInterval = 1000, 50*time.Millisecond })
	e.ingestN(3)
	e.led.waitAnchored(t, LogRecords, 3)
	e.ingestN(2)
	e.led.waitAnchored(t, LogRecords, 5)
	checkAnchors(t, e.led, LogRecords)
	// Nothing new: no more anchors.
	n := len(e.led.committed(LogRecords))
	time.Sleep(150 * time.Millisecond)
	if m := len(e.led.committed(LogRecords)); m != n {
		t.Fatalf("%d anchors of an unchanged log", m-n)
	}
	if c := e.led.anchorCalls(LogAccess); c != 0 {
		t.Fatalf("%d anchors of the empty access log", c)
	}
}

// When the ledger fails, the sealer retries and later anchors everything.
func TestAnchorRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.BlockRecords, c.BlockInterval = 1000, 20*time.Millisecond })
	e.led.set(func(l *fakeLedger) { l.failAnchors = 2 })
	e.ingestN(3)
	eventually(t, "two failed anchors", func() bool { return e.led.anchorCalls(LogRecords) >= 2 })
	e.ingestN(2)
	e.led.waitAnchored(t, LogRecords, 5)
	checkAnchors(t, e.led, LogRecords)
	if got := e.metric("vitalchain_cloud_anchor_errors_total", "log", "records"); got != 2 {
		t.Errorf("anchor_errors{records} = %v, want 2", got)
	}
}

// While the ledger is down, the sealer backs off, even with more than
// BlockRecords entries waiting.
func TestAnchorBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.BlockRecords, c.BlockInterval = 2, 20*time.Millisecond })
	e.led.set(func(l *fakeLedger) { l.failAnchors = -1 })
	e.ingestN(10)
	eventually(t, "a failed anchor", func() bool { return e.led.anchorCalls(LogRecords) >= 1 })
	time.Sleep(700 * time.Millisecond)
	// Without backoff the sealer would try every tick (~20 ms): some 35 times.
	if c := e.led.anchorCalls(LogRecords); c > 4 {
		t.Fatalf("%d anchor attempts in 0.7 s while the ledger is down", c)
	}
	e.led.set(func(l *fakeLedger) { l.failAnchors = 0 })
	e.led.waitAnchored(t, LogRecords, 10)
}

// A slow ledger holds the sealer, not the uploads; Close does not wait for it.
func TestAnchorSlowLedger(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := make(chan struct{})
	e.led.set(func(l *fakeLedger) { l.gate = gate })
	e.ingestN(2)
	eventually(t, "an anchor attempt", func() bool { return e.led.anchorCalls(LogRecords) >= 1 })
	start := time.Now()
	e.ingestN(5) // not held by the anchor in flight
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("uploads took %v behind a held anchor", d)
	}
	if _, ra, _, _ := e.svc.Checkpoints(); ra.Size != 0 {
		t.Fatalf("anchored %d before the ledger answered", ra.Size)
	}
	// Close returns with the anchor still held: the service's context ends it.
	closed := make(chan struct{})
	go func() { e.svc.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a held anchor")
	}
	close(gate)
	e.led.set(func(l *fakeLedger) { l.gate = nil })
	// The next start anchors everything.
	e.start()
	e.led.waitAnchored(t, LogRecords, 7)
	checkAnchors(t, e.led, LogRecords)
}

// After Close and New on the same store, the service resumes: the restored
// log agrees with what is anchored, and the next anchor extends it.
func TestAnchorResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ingestN(5)
	anchored := e.led.waitAnchored(t, LogRecords, 5)
	e.restart()
	rc, ra, _, _ := e.svc.Checkpoints()
	if ra != anchored || rc != anchored {
		t.Fatalf("restored checkpoints %+v %+v, anchored %+v", rc, ra, anchored)
	}
	cp, err := e.svc.records.log.Load().CheckpointAt(anchored.Size)
	if err != nil || cp != anchored {
		t.Fatalf("restored log at the anchored size: %+v %v, want %+v", cp, err, anchored)
	}
	ids := e.ingestN(3)
	for idx := range ids {
		if idx < 5 {
			t.Fatalf("index %d reused after restart", idx)
		}
	}
	e.led.waitAnchored(t, LogRecords, 8)
	checkAnchors(t, e.led, LogRecords)

	// Entries not anchored before Close are anchored after the restart.
	e.led.set(func(l *fakeLedger) { l.failAnchors = -1 })
	e.ingestN(2)
	e.restart()
	e.led.set(func(l *fakeLedger) { l.failAnchors = 0 })
	e.led.waitAnchored(t, LogRecords, 10)
	checkAnchors(t, e.led, LogRecords)
}

// New refuses a store that disagrees with what the ledger has anchored.
func TestNewRefusesDivergentStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ingestN(4)
	anchored := e.led.waitAnchored(t, LogRecords, 4)
	e.svc.Close()
	e.svc = nil

	for _, tc := range []struct {
		name string
		cp   merklelog.Checkpoint
	}{
		{"other root", merklelog.Checkpoint{Size: anchored.Size, Root: [32]byte{1}}},
		{"other root at a smaller size", merklelog.Checkpoint{Size: 2, Root: anchored.Root}},
		{"larger than the store", merklelog.Checkpoint{Size: anchored.Size + 1, Root: anchored.Root}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.led.set(func(l *fakeLedger) { l.anchored[LogRecords] = &ledger.AnchorRecord{Checkpoint: tc.cp} })
			s, err := e.open()
			if err == nil {
				s.Close()
				t.Fatal("New accepted it")
			}
			if !errors.Is(err, ErrAnchorMismatch) {
				t.Fatalf("New: %v, want ErrAnchorMismatch", err)
			}
		})
	}
	// The ledger unreachable: New fails too (it cannot check).
	e.led.set(func(l *fakeLedger) { l.anchored[LogRecords] = &ledger.AnchorRecord{Checkpoint: anchored} })
	e.start()
}

// If the ledger says it anchored more than the service believes (an anchor
// whose answer was lost), the sealer adopts the ledger's checkpoint when it
// is a prefix of its log, and refuses one that is not.
func TestAnchorAdoptsLedger(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.BlockRecords, c.BlockInterval = 1000, 20*time.Millisecond })
	ids := e.ingestN(3)
	e.led.waitAnchored(t, LogRecords, 3)
	gate := make(chan struct{})
	e.led.set(func(l *fakeLedger) { l.gate = gate })
	e.ingestN(3)
	eventually(t, "an anchor attempt", func() bool { return e.led.anchorCalls(LogRecords) >= 2 })
	// Behind the service's back, the ledger anchors size 5 of its log.
	cp5, err := e.svc.records.log.Load().CheckpointAt(5)
	if err != nil {
		t.Fatal(err)
	}
	e.led.set(func(l *fakeLedger) {
		l.anchored[LogRecords] = &ledger.AnchorRecord{Checkpoint: cp5}
		l.gate = nil
	})
	close(gate)
	eventually(t, "the service adopts the ledger's anchor and extends it", func() bool {
		_, ra, _, _ := e.svc.Checkpoints()
		return ra.Size == 6 && e.led.anchoredCP(LogRecords).Size == 6
	})

	// A ledger claiming a checkpoint that is not of this log: it is not
	// adopted, and reads still prove into checkpoints of this log.
	bogus := merklelog.Checkpoint{Size: 7, Root: [32]byte{7}}
	e.led.set(func(l *fakeLedger) { l.anchored[LogRecords] = &ledger.AnchorRecord{Checkpoint: bogus} })
	e.ingestN(2)
	eventually(t, "an anchor attempt on the bogus checkpoint", func() bool {
		return e.metric("vitalchain_cloud_anchor_errors_total", "log", "records") >= 2
	})
	if _, ra, _, _ := e.svc.Checkpoints(); ra != (merklelog.Checkpoint{}) && ra.Size != 6 {
		t.Fatalf("service adopted a foreign checkpoint %+v", ra)
	}
	id := ids[0]
	res, err := e.svc.Read(context.Background(), e.request(e.patient.Signing, cloudapi.OpRead, id, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := merklelog.VerifyInclusion(id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
		t.Fatalf("proof into %+v: %v", res.Checkpoint, err)
	}
}

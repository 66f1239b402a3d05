package ledger

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// testLog is a cloud's Merkle log.
type testLog struct {
	t testing.TB
	l *merklelog.Log
}

func newTestLog(t testing.TB) *testLog {
	t.Helper()
	l, err := merklelog.Open(merklelog.NewMemStore())
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{t: t, l: l}
}

// grow appends n leaves and returns the new checkpoint.
func (l *testLog) grow(n int) merklelog.Checkpoint {
	l.t.Helper()
	for range n {
		if _, err := l.l.Append(fmt.Appendf(nil, "leaf %d", l.l.Size())); err != nil {
			l.t.Fatal(err)
		}
	}
	return l.l.Checkpoint()
}

// anchor returns the anchor of the log's current checkpoint with a
// consistency proof from size from.
func (l *testLog) anchor(log uint8, from uint64, sealed int64) *Anchor {
	l.t.Helper()
	cp := l.l.Checkpoint()
	p, err := l.l.ConsistencyProof(from, cp.Size)
	if err != nil {
		l.t.Fatal(err)
	}
	return &Anchor{Log: log, Checkpoint: cp, Proof: p, Sealed: sealed}
}

func TestAnchor(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	cloud := c.register(identity.RoleCloud, nil)
	prov := c.register(identity.RoleProvider, nil)
	lg := newTestLog(t)
	sealed := c.now.UnixMilli()

	first := lg.grow(3)
	r := c.ok(cloud.Signing, lg.anchor(LogRecords, 0, sealed))
	if got := attrs(r.Events, "anchor", "size"); len(got) != 1 || got[0] != "3" {
		t.Errorf("anchor event %v", r.Events)
	}
	if got := attrs(r.Events, "anchor", "prev_size"); len(got) != 1 || got[0] != "0" {
		t.Errorf("anchor event %v", r.Events)
	}
	firstHeight := c.height

	lg.grow(4)
	second := lg.anchor(LogRecords, 3, sealed+1)
	if len(second.Proof) == 0 {
		t.Fatal("empty consistency proof from 3 to 7")
	}

	tampered := *second
	tampered.Proof = slices.Clone(second.Proof)
	tampered.Proof[0][0] ^= 1
	short := *second
	short.Proof = second.Proof[1:]
	fromWrong := lg.anchor(LogRecords, 2, sealed) // a proof from size 2, not 3
	otherRoot := *second
	otherRoot.Checkpoint.Root[0] ^= 1
	shrink := *second
	shrink.Checkpoint, _ = lg.l.CheckpointAt(2)
	shrink.Proof = nil
	sameSizeOtherRoot := &Anchor{Log: LogRecords, Checkpoint: merklelog.Checkpoint{Size: 3, Root: merklelog.HashLeaf([]byte("x"))}}
	// A log that rewrote its first leaves cannot anchor past them.
	forked := newTestLog(t)
	forked.l.Append([]byte("rewritten")) //nolint:errcheck
	forked.grow(6)
	fork := forked.anchor(LogRecords, 3, sealed)

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   *Anchor
		code   Code
	}{
		{"tampered proof", cloud.Signing, &tampered, CodeConsistency},
		{"truncated proof", cloud.Signing, &short, CodeConsistency},
		{"proof from another size", cloud.Signing, fromWrong, CodeConsistency},
		{"no proof", cloud.Signing, &Anchor{Log: LogRecords, Checkpoint: second.Checkpoint}, CodeConsistency},
		{"root that is not the proof's", cloud.Signing, &otherRoot, CodeConsistency},
		{"forked log", cloud.Signing, fork, CodeConsistency},
		{"shrinking", cloud.Signing, &shrink, CodeConsistency},
		{"same size, other root", cloud.Signing, sameSizeOtherRoot, CodeConsistency},
		{"same checkpoint", cloud.Signing, &Anchor{Log: LogRecords, Checkpoint: first}, CodeDuplicate},
		{"by a provider", prov.Signing, second, CodeWrongRole},
		{"by an authority", c.auths[0].Signing, second, CodeWrongRole},
		{"by a stranger", mustIdentity(t, identity.RoleCloud).Signing, second, CodeUnknownSigner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}

	c.ok(cloud.Signing, second)
	// Anchoring the first checkpoint again, now that it is old.
	c.fails(cloud.Signing, &Anchor{Log: LogRecords, Checkpoint: first}, CodeConsistency)
	c.fails(cloud.Signing, second, CodeDuplicate)

	hexCloud := cloud.ID().Hex()
	var rec AnchorRecord
	c.mustQuery("anchor/"+hexCloud+"/0", &rec)
	if rec.Checkpoint != second.Checkpoint || rec.Sealed != sealed+1 {
		t.Errorf("latest anchor %+v", rec)
	}
	c.mustQuery("anchor/"+hexCloud+"/0/3", &rec)
	if rec.Checkpoint != first || rec.Height != firstHeight || rec.Sealed != sealed {
		t.Errorf("anchor of size 3 %+v", rec)
	}
	c.mustQuery("anchor/"+hexCloud+"/0/7", &rec)
	if rec.Checkpoint.Size != 7 {
		t.Errorf("anchor of size 7 %+v", rec)
	}
	if err := c.query("anchor/"+hexCloud+"/0/5", &rec); !errors.Is(err, ErrNotFound) {
		t.Errorf("anchor of size 5: %v", err)
	}

	// The access log is anchored independently, from empty.
	if err := c.query("anchor/"+hexCloud+"/1", &rec); !errors.Is(err, ErrNotFound) {
		t.Errorf("access log before its first anchor: %v", err)
	}
	access := newTestLog(t)
	access.grow(1)
	c.ok(cloud.Signing, access.anchor(LogAccess, 0, sealed))
	c.mustQuery("anchor/"+hexCloud+"/1", &rec)
	if rec.Checkpoint != access.l.Checkpoint() {
		t.Errorf("access log anchor %+v", rec)
	}
	access.grow(2)
	c.ok(cloud.Signing, access.anchor(LogAccess, 1, sealed))
	c.mustQuery("anchor/"+hexCloud+"/0", &rec)
	if rec.Checkpoint != second.Checkpoint {
		t.Errorf("records log after access anchors %+v", rec)
	}

	// Another cloud's log is its own.
	cloud2 := c.register(identity.RoleCloud, nil)
	c.ok(cloud2.Signing, &Anchor{Log: LogRecords, Checkpoint: first})
}

func TestAlert(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	other := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	cloud := c.register(identity.RoleCloud, nil)
	id := c.deploy(pat, a, b)
	otherID := c.deploy(other, a)
	ended := c.deploy(pat, b)
	c.ok(b.Signing, &TerminateContract{ID: ended})

	alert := func(patient identity.ID, cid [32]byte, rec byte) *Alert {
		return &Alert{Patient: patient, Contract: cid, RecordID: [32]byte{rec}, Time: 12345}
	}
	r := c.ok(cloud.Signing, alert(pat.ID(), id, 1))
	provs := attrs(r.Events, "alert", "provider")
	slices.Sort(provs)
	want := []string{a.ID().Hex(), b.ID().Hex()}
	slices.Sort(want)
	if !slices.Equal(provs, want) {
		t.Errorf("alert providers %v, want %v", provs, want)
	}
	if got := attrs(r.Events, "alert", "patient"); len(got) != 1 || got[0] != pat.ID().Hex() {
		t.Errorf("alert patient %v", got)
	}
	if got := attrs(r.Events, "alert", "kind"); len(got) != 0 {
		t.Errorf("the alert event names a vital sign: %v", got)
	}
	var rec AlertRecord
	rid := [32]byte{1}
	c.mustQuery("alert/"+pat.ID().Hex()+"/"+hexOf(rid[:]), &rec)
	if rec.Contract != id || rec.Time != 12345 || rec.Height != c.height {
		t.Errorf("alert record %+v", rec)
	}
	// The patient may post its own.
	c.ok(pat.Signing, alert(pat.ID(), id, 2))

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   *Alert
		code   Code
	}{
		{"duplicate", cloud.Signing, alert(pat.ID(), id, 1), CodeDuplicate},
		{"duplicate by the patient", pat.Signing, alert(pat.ID(), id, 1), CodeDuplicate},
		{"terminated contract", cloud.Signing, alert(pat.ID(), ended, 3), CodeInvalid},
		{"another patient's contract", cloud.Signing, alert(pat.ID(), otherID, 3), CodeInvalid},
		{"contract named for another patient", cloud.Signing, alert(other.ID(), id, 3), CodeInvalid},
		{"unknown contract", cloud.Signing, alert(pat.ID(), [32]byte{7}, 3), CodeNotFound},
		{"by another patient", other.Signing, alert(pat.ID(), id, 3), CodeUnauthorized},
		{"by a provider", a.Signing, alert(pat.ID(), id, 3), CodeWrongRole},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}
}

func TestDeviceCommand(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	dev := c.register(identity.RoleDevice, pat)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	e := c.register(identity.RoleProvider, nil)
	cmd := func(v int64) *DeviceCommand {
		return &DeviceCommand{Device: dev.ID(), Command: "sampling_interval_ms", Value: v}
	}

	c.fails(a.Signing, cmd(1000), CodeUnauthorized) // no grant
	k := c.startEpoch(pat, 1)
	c.ok(pat.Signing, grantBody(t, pat, a, 1, k, true, c.expiry(time.Hour)))
	c.ok(pat.Signing, grantBody(t, pat, b, 1, k, false, c.expiry(time.Hour)))
	c.ok(pat.Signing, grantBody(t, pat, e, 1, k, true, c.expiry(2*time.Second)))

	r := c.ok(a.Signing, cmd(5000))
	if got := attrs(r.Events, "device_command", "value"); len(got) != 1 || got[0] != "5000" {
		t.Errorf("device command event %v", r.Events)
	}
	if got := attrs(r.Events, "device_command", "patient"); len(got) != 1 || got[0] != pat.ID().Hex() {
		t.Errorf("device command event %v", r.Events)
	}
	var rec DeviceCommandRecord
	c.mustQuery("command/"+dev.ID().Hex(), &rec)
	if rec.Provider != a.ID() || rec.Command != "sampling_interval_ms" || rec.Value != 5000 || rec.Height != c.height {
		t.Errorf("device command record %+v", rec)
	}

	c.fails(b.Signing, cmd(1000), CodeUnauthorized) // grant without commands
	c.fails(a.Signing, cmd(99), CodeMalformed)      // value out of range
	c.fails(e.Signing, cmd(1000), CodeUnauthorized) // e's grant has expired
	c.fails(a.Signing, &DeviceCommand{Device: pat.ID(), Command: "sampling_interval_ms", Value: 1000}, CodeWrongRole)
	c.fails(a.Signing, &DeviceCommand{Device: [32]byte{1}, Command: "sampling_interval_ms", Value: 1000}, CodeNotFound)
	c.fails(pat.Signing, cmd(1000), CodeWrongRole) // a patient commands through its own gateway

	// A revoked grant no longer allows commands.
	k2 := newSessionKey(t)
	c.ok(pat.Signing, &Revoke{Provider: a.ID(), NewEpoch: 2, SelfEnvelope: sessionKeyBody(t, pat, 2, k2).Envelope,
		Rewraps: []Rewrap{{Provider: b.ID(), Envelope: grantEnv(t, pat, b, 2, k2), Keys: scopeKeysOf(t)}}})
	c.fails(a.Signing, cmd(1000), CodeUnauthorized)
	c.mustQuery("command/"+dev.ID().Hex(), &rec)
	if rec.Value != 5000 {
		t.Errorf("refused commands changed the record: %+v", rec)
	}
}

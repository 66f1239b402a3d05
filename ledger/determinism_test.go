package ledger

import (
	"bytes"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/statetree"
)

// scenario runs a bit of everything on c, several transactions to a block,
// refused ones included.
func scenario(c *testChain) {
	t := c.t
	t.Helper()
	head := c.auths[0]
	ids := map[identity.Role][]*identity.Identity{}
	var regs [][]byte
	for _, role := range []identity.Role{identity.RolePatient, identity.RolePatient, identity.RoleProvider, identity.RoleProvider, identity.RoleCloud, identity.RoleAuthority} {
		id := mustIdentity(t, role)
		ids[role] = append(ids[role], id)
		regs = append(regs, c.tx(head.Signing, c.registerBody(id, 1, identity.ID{}, id.Signing)))
	}
	regs = append(regs, regs[0]) // a replay
	c.block(regs...)
	pat, pat2 := ids[identity.RolePatient][0], ids[identity.RolePatient][1]
	a, b := ids[identity.RoleProvider][0], ids[identity.RoleProvider][1]
	cloud, cand := ids[identity.RoleCloud][0], ids[identity.RoleAuthority][0]
	dev := mustIdentity(t, identity.RoleDevice)

	tm := terms(pat.ID(), contract.DefaultRules(), a.ID(), b.ID())
	cid := contractID(t, tm)
	k1, k2 := newSessionKey(t), newSessionKey(t)
	exp := c.now.Add(time.Hour).UnixMilli()
	c.block(
		c.tx(pat.Signing, c.registerBody(dev, 0, pat.ID(), dev.Signing)),
		c.tx(pat.Signing, deployBody(t, pat, tm, a, b)),
		c.tx(pat.Signing, sessionKeyBody(t, pat, 1, k1)),
		c.tx(pat.Signing, grantBody(t, pat, a, 1, k1, true, exp)),
		c.tx(pat.Signing, grantBody(t, pat, b, 1, k1, false, exp)),
		c.tx(pat2.Signing, sessionKeyBody(t, pat2, 2, k1)), // refused: epoch 2 first
		c.tx(head.Signing, &Vote{Candidate: cand.ID(), Add: true}),
		c.tx(c.auths[1].Signing, &Vote{Candidate: cand.ID(), Add: true}),
	)
	lg := newTestLog(t)
	lg.grow(5)
	pr, err := envelope.ProviderRecordEnvelope(a, pat.Public(), [32]byte{5}, k2)
	c.block(
		c.tx(cloud.Signing, lg.anchor(LogRecords, 0, c.now.UnixMilli())),
		c.tx(cloud.Signing, &Alert{Patient: pat.ID(), Contract: cid, RecordID: [32]byte{5}, Time: 1}),
		c.tx(a.Signing, &DeviceCommand{Device: dev.ID(), Command: "sampling_interval_ms", Value: 2000}),
		c.tx(b.Signing, &DeviceCommand{Device: dev.ID(), Command: "sampling_interval_ms", Value: 2000}), // refused
		c.tx(a.Signing, &ProviderRecord{Patient: pat.ID(), RecordID: [32]byte{5}, Envelope: envBytes(t, pr, err)}),
		c.tx(c.auths[2].Signing, &Vote{Candidate: cand.ID(), Add: true}),
		[]byte("not a transaction"),
	)
	lg.grow(3)
	c.block(
		c.tx(cloud.Signing, lg.anchor(LogRecords, 5, c.now.UnixMilli())),
		c.tx(pat.Signing, &Revoke{Provider: b.ID(), NewEpoch: 2, SelfEnvelope: sessionKeyBody(t, pat, 2, k2).Envelope,
			Rewraps: []Rewrap{{Provider: a.ID(), Envelope: grantEnv(t, pat, a, 2, k2), Keys: scopeKeysOf(t)}}}),
		c.tx(b.Signing, &TerminateContract{ID: cid}),
	)
	n := c.register(identity.RoleAuthority, nil)
	c.block(c.tx(n.Signing, &Handover{Cluster: 1, NewHead: n.ID(),
		Attestations: attest(t, HandoverStatement{Cluster: 1, OldHead: head.ID(), NewHead: n.ID()}, head)}))
	c.block()
	c.block()
}

// replay executes a's blocks on b and checks that every result and app
// hash is the same.
func replay(t *testing.T, a, b *testChain) {
	t.Helper()
	if a.hashes[0] != b.hashes[0] {
		t.Fatal("genesis app hashes differ")
	}
	for i, blk := range a.blocks {
		rs := b.blockAt(blk.Time, blk.Txs...)
		if b.height != blk.Height {
			t.Fatalf("height %d, want %d", b.height, blk.Height)
		}
		if b.hashes[i+1] != a.hashes[i+1] {
			t.Fatalf("height %d: app hash %x, want %x", blk.Height, b.hashes[i+1], a.hashes[i+1])
		}
		for j, r := range rs {
			if !reflect.DeepEqual(r, a.allResults[i][j]) {
				t.Fatalf("height %d tx %d: result %+v, want %+v", blk.Height, j, r, a.allResults[i][j])
			}
		}
	}
	if !maps.EqualFunc(a.st, b.st, bytes.Equal) {
		t.Fatal("stores differ")
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	tg := newGenesis(t, 4)
	a := startChain(t, tg)
	scenario(a)
	if len(a.blocks) < 6 {
		t.Fatalf("scenario ran %d blocks", len(a.blocks))
	}
	// The scenario commits and refuses.
	var ok, refused int
	for _, rs := range a.allResults {
		for _, r := range rs {
			if r.Code == CodeOK {
				ok++
			} else {
				refused++
			}
		}
	}
	if ok < 20 || refused < 4 {
		t.Fatalf("%d committed, %d refused", ok, refused)
	}

	t.Run("cold", func(t *testing.T) {
		replay(t, a, startChain(t, tg))
	})
	t.Run("warm", func(t *testing.T) {
		b := startChain(t, tg)
		b.warm = true
		replay(t, a, b)
	})
	t.Run("all checked first", func(t *testing.T) {
		b := startChain(t, tg)
		for _, blk := range a.blocks {
			for _, tx := range blk.Txs {
				b.m.CheckTx(nil, tx) //nolint:errcheck
			}
		}
		replay(t, a, b)
	})
}

func TestAppHash(t *testing.T) {
	base := []Write{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: nil}, {Key: []byte("c"), Value: []byte{}}}
	clone := func() []Write {
		out := make([]Write, len(base))
		for i, w := range base {
			out[i] = Write{Key: bytes.Clone(w.Key), Value: w.Value}
			if w.Value != nil {
				out[i].Value = bytes.Clone(w.Value)
			}
		}
		return out
	}
	// hash commits ws to a tree that holds "b" and "z" already.
	hash := func(ws []Write) [32]byte {
		tree := statetree.NewMemory()
		if _, err := commitTo(tree, []Write{{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("z"), Value: []byte("9")}}); err != nil {
			t.Fatal(err)
		}
		h, err := commitTo(tree, ws)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	variants := map[string][32]byte{"base": hash(base)}
	add := func(name string, h [32]byte) {
		for other, g := range variants {
			if g == h {
				t.Errorf("%s has the app hash of %s", name, other)
			}
		}
		variants[name] = h
	}
	w := clone()
	w[0].Value[0] ^= 1
	add("value", hash(w))
	w = clone()
	w[0].Key[0] ^= 1
	add("key", hash(w))
	w = clone()
	w[1].Value = []byte{}
	add("delete to empty", hash(w))
	w = clone()
	w[2].Value = nil
	add("empty to delete", hash(w))
	add("dropped", hash(clone()[1:]))
	add("added", hash(append(clone(), Write{Key: []byte("d"), Value: []byte("4")})))
	add("boundary", hash([]Write{{Key: []byte("a1"), Value: []byte{}}, base[1], base[2]}))
	add("none", hash(nil))
	if hash(clone()) != variants["base"] {
		t.Error("app hash is not a function of its input")
	}
}

func TestAppHashOfExecution(t *testing.T) {
	t.Parallel()
	tg := newGenesis(t, 1)
	a, b := startChain(t, tg), startChain(t, tg)
	p := mustIdentity(t, identity.RolePatient)
	reg := a.tx(a.auths[0].Signing, a.registerBody(p, 1, identity.ID{}, p.Signing))

	// A block whose only transaction is refused writes nothing: its app
	// hash is that of an empty block (CometBFT commits to results itself).
	a.block(reg[:len(reg)-1])
	b.block()
	if a.appHash != b.appHash {
		t.Fatal("a refused transaction changed the app hash")
	}
	// One registration more on one side changes it, and it stays changed.
	a.block(reg)
	b.block()
	if a.appHash == b.appHash {
		t.Fatal("a registration did not change the app hash")
	}
	a.block()
	b.block()
	if a.appHash == b.appHash {
		t.Fatal("app hashes converged again")
	}
	// The app hash commits to the state, not to its history: the same
	// write at another height gives the same state (sequence numbers and
	// all) and the same hash, and that hash is the root of a tree of the
	// whole state built afresh.
	c := startChain(t, tg)
	c.block()
	c.block(reg)
	c.block()
	if c.appHash != a.appHash {
		t.Fatal("the same state at another height has another app hash")
	}
	fresh := statetree.NewMemory()
	for k, v := range a.st {
		if err := fresh.Set([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if fresh.Root() != a.appHash {
		t.Fatalf("app hash %x, the state's root %x", a.appHash, fresh.Root())
	}
}

package ledger

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/statetree"
)

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	P := pat.ID().Hex()
	X := strings.Repeat("ab", 32) // well formed, nobody's

	bad := []string{
		"", "/", "nope", "member", "member/zz", "member/00", "member/" + P + "/x", "member/" + P[:63],
		"seq", "epoch/" + P + "/1", "contracts", "grants/" + P + "/x", "record3/", "command/zz",
		"authorities/x", "pending/x", "params/1",
		"cluster", "cluster/x", "cluster/-1", "cluster/4294967296", "cluster/1/2",
		"contract", "contract/ab",
		"envelope/" + P + "/1", "envelope/" + P + "/x/" + P, "envelope/zz/1/" + P, "envelope/" + P + "/1/zz", "envelope/" + P + "/-1/" + P,
		"grant/" + P, "grant/" + P + "/zz", "grant/zz/" + P, "alert/" + P, "alert/" + P + "/" + P + "/x",
		"anchor/" + P, "anchor/" + P + "/x", "anchor/" + P + "/256", "anchor/" + P + "/0/x", "anchor/" + P + "/0/1/2", "anchor/zz/0",
	}
	for _, path := range bad {
		if _, err := Query(c.st, path); !errors.Is(err, ErrBadQuery) || errors.Is(err, ErrNotFound) {
			t.Errorf("Query(%q): %v, want ErrBadQuery", path, err)
		}
	}
	missing := []string{
		"member/" + X, "cluster/99", "contract/" + X, "grant/" + P + "/" + X, "alert/" + P + "/" + X,
		"anchor/" + X + "/0", "anchor/" + X + "/0/5", "command/" + X, "envelope/" + P + "/1/" + P,
	}
	for _, path := range missing {
		if _, err := Query(c.st, path); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrBadQuery) {
			t.Errorf("Query(%q): %v, want ErrNotFound", path, err)
		}
	}

	// Lists are empty, counters zero, for someone unknown.
	var list [][32]byte
	c.mustQuery("contracts/"+X, &list)
	var grants []GrantEntry
	c.mustQuery("grants/"+X, &grants)
	var recs []ProviderRecordListing
	c.mustQuery("record3/"+X, &recs)
	var pending []Change
	c.mustQuery("pending", &pending)
	var seq uint64
	c.mustQuery("seq/"+X, &seq)
	var ps PatientState
	c.mustQuery("epoch/"+X, &ps)
	if len(list) != 0 || len(grants) != 0 || len(recs) != 0 || len(pending) != 0 || seq != 0 || ps.Epoch != 0 {
		t.Errorf("empty answers: %v %v %v %v %d %d", list, grants, recs, pending, seq, ps.Epoch)
	}
	// Slashes around a path do not matter.
	var p Params
	c.mustQuery("/params/", &p)
	if p != testParams() {
		t.Errorf("params %+v", p)
	}
	var m Member
	c.mustQuery("/member/"+strings.ToUpper(P), &m) // hex in either case
	if m.Role != identity.RolePatient {
		t.Errorf("member %+v", m)
	}
	// An empty store answers the default parameters.
	if _, err := Query(MemStore{}, "params"); err != nil {
		t.Errorf("params of an empty store: %v", err)
	}
	var none []Authority
	b, err := Query(MemStore{}, "authorities")
	if err != nil || unmarshal(b, &none) != nil || len(none) != 0 {
		t.Errorf("authorities of an empty store: %v %v", err, none)
	}
}

// failStore fails every read.
type failStore struct{}

var errDisk = errors.New("disk on fire")

func (failStore) Get([]byte) ([]byte, error) { return nil, errDisk }
func (failStore) Iterate([]byte, func(k, v []byte) bool) error {
	return errDisk
}

func TestStoreFailures(t *testing.T) {
	t.Parallel()
	s := samples(t)
	m := NewMachine()
	if _, err := m.Execute(failStore{}, statetree.NewMemory(), Block{Height: 1, Time: genesisTime}); !errors.Is(err, errDisk) {
		t.Errorf("Execute on a failing store: %v", err)
	}
	if _, err := m.InitChain(failStore{}, statetree.NewMemory(), testChainID, newGenesis(t, 1).g, genesisTime); !errors.Is(err, errDisk) {
		t.Errorf("InitChain on a failing store: %v", err)
	}
	if _, err := m.Prepare(failStore{}, nil, genesisTime, [][]byte{s.txs[TypeAnchor]}, 1<<20); !errors.Is(err, errDisk) {
		t.Errorf("Prepare on a failing store: %v", err)
	}
	if err := m.Process(failStore{}, nil, genesisTime, [][]byte{s.txs[TypeAnchor]}); !errors.Is(err, errDisk) {
		t.Errorf("Process on a failing store: %v", err)
	}
	for _, path := range []string{"member/" + s.patient.ID().Hex(), "seq/" + s.patient.ID().Hex(), "grants/" + s.patient.ID().Hex(), "cluster/1", "params", "authorities"} {
		if _, err := Query(failStore{}, path); !errors.Is(err, errDisk) {
			t.Errorf("Query(%s) on a failing store: %v", path, err)
		}
	}

	// A store that fails in the middle of a block stops the block: no
	// result, rather than a rejection some nodes would not share.
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	k := c.startEpoch(pat, 1)
	prov := c.register(identity.RoleProvider, nil)
	tx := c.tx(pat.Signing, grantBody(t, pat, prov, 1, k, false, c.expiry(time.Hour)))
	if _, err := c.m.Execute(flakyStore{c.st, key(pMember, idb(prov.ID()))}, c.tree, Block{Height: c.height + 1, Time: c.now, Txs: [][]byte{tx}}); !errors.Is(err, errDisk) {
		t.Errorf("Execute with a failing read: %v", err)
	}
	// Nor does a corrupt value pass for a rejection.
	corrupt := MemStore{}
	for k, v := range c.st {
		corrupt[k] = v
	}
	corrupt[string(key(pMember, idb(prov.ID())))] = []byte{0xff}
	if _, err := c.m.Execute(corrupt, c.tree, Block{Height: c.height + 1, Time: c.now, Txs: [][]byte{tx}}); !errors.Is(err, errStore) {
		t.Errorf("Execute with a corrupt value: %v", err)
	}
	c.block(tx)
	corrupt[string(key(pGrant, idb(pat.ID()), idb(prov.ID())))] = []byte{0xff}
	if _, err := Query(corrupt, "grants/"+pat.ID().Hex()); err == nil {
		t.Error("grants query of a corrupt grant succeeded")
	}
}

// flakyStore fails reads of one key.
type flakyStore struct {
	MemStore
	bad []byte
}

func (f flakyStore) Get(k []byte) ([]byte, error) {
	if string(k) == string(f.bad) {
		return nil, errDisk
	}
	return f.MemStore.Get(k)
}

func idb(id identity.ID) []byte { return id[:] }

// Every path builder gives a path Query parses: a well-formed query of a
// state without the key answers ErrNotFound, never ErrBadQuery.
func TestPathBuilders(t *testing.T) {
	st := MemStore{}
	id := identity.ID{1, 2, 3}
	for _, p := range []string{
		MemberPath(id), SeqPath(id), ClusterPath(7), ContractPath([32]byte{4}), ContractsPath(id), EpochPath(id),
		EnvelopePath(id, 3, id), GrantPath(id, id), GrantsPath(id), AnchorPath(id, LogRecords), AnchorAtPath(id, LogAccess, 9),
		AlertPath(id, [32]byte{5}), Record3Path(id), CommandPath(id), AbsentPath(id), QueryAuthorities, QueryPending, QueryParams,
	} {
		if _, err := Query(st, p); errors.Is(err, ErrBadQuery) {
			t.Errorf("Query(%q): %v", p, err)
		}
	}
}

// Every query but the listings reads one key: its answer is Answer of that
// key's value, which a proof against the app hash proves; a listing says
// it cannot be proved.
func TestAnswersFromOneKey(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	P := pat.ID().Hex()
	X := strings.Repeat("ab", 32)
	A := c.auths[0].ID().Hex()
	paths := []string{
		"member/" + P, "member/" + X, "seq/" + A, "seq/" + X, "epoch/" + P, "authorities", "pending", "params",
		"head/1", "head/9", "contract/" + X, "envelope/" + P + "/1/" + P, "grant/" + P + "/" + X, "alert/" + P + "/" + X,
		"anchor/" + X + "/0", "anchor/" + X + "/0/5", "command/" + X, "absent/" + A, "chain_id",
	}
	for _, path := range paths {
		k, err := StateKey(path)
		if err != nil {
			t.Fatalf("StateKey(%q): %v", path, err)
		}
		raw, _ := c.st.Get(k)
		got, gerr := Answer(path, raw)
		want, werr := Query(c.st, path)
		if !bytes.Equal(got, want) || (gerr == nil) != (werr == nil) || errors.Is(gerr, ErrNotFound) != errors.Is(werr, ErrNotFound) {
			t.Errorf("%s: Answer %x, %v; Query %x, %v", path, got, gerr, want, werr)
		}
		// The proof of that key's value, or absence, verifies under the app hash.
		p, err := c.tree.Prove(k, raw, raw != nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := p.Verify(c.appHash, k); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	for _, path := range []string{"contracts/" + P, "grants/" + P, "record3/" + P, "cluster/1"} {
		if _, err := StateKey(path); !errors.Is(err, ErrNotProvable) {
			t.Errorf("StateKey(%q): %v, want ErrNotProvable", path, err)
		}
		if _, err := Answer(path, nil); !errors.Is(err, ErrNotProvable) {
			t.Errorf("Answer(%q): %v, want ErrNotProvable", path, err)
		}
	}
	// head/N answers the cluster that cluster/N lists the members of.
	var head Cluster
	c.mustQuery("head/1", &head)
	var info ClusterInfo
	c.mustQuery("cluster/1", &info)
	if head != info.Cluster || head.Head != c.auths[0].ID() {
		t.Errorf("head/1 %+v, cluster/1 %+v", head, info.Cluster)
	}
}

// Answer makes an answer from a value a node sent with its proof, before
// the proof is checked: whatever the bytes, it answers or refuses, never
// panics, and an answer it makes from a value Query would make too.
func FuzzAnswer(f *testing.F) {
	X := strings.Repeat("ab", 32)
	paths := []string{"member/" + X, "seq/" + X, "epoch/" + X, "authorities", "pending", "params", "head/1",
		"envelope/" + X + "/1/" + X, "grant/" + X + "/" + X, "chain_id", "anchor/" + X + "/0"}
	for i := range paths {
		f.Add(uint8(i), []byte{0xa1, 0x01, 0x05})
		f.Add(uint8(i), []byte{})
	}
	f.Fuzz(func(t *testing.T, i uint8, raw []byte) {
		path := paths[int(i)%len(paths)]
		k, err := StateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Answer(path, raw)
		if err != nil {
			return
		}
		st := MemStore{string(k): raw}
		want, err := Query(st, path)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: Answer %x, Query %x, %v", path, got, want, err)
		}
	})
}

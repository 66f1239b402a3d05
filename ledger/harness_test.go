package ledger

import (
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// testChain runs the state machine over an in-memory store, block by block.
type testChain struct {
	t       *testing.T
	m       *Machine
	st      memStore
	height  int64
	now     time.Time
	appHash [32]byte
	auths   []*identity.Identity
	cons    [][]byte // consensus keys of auths
	seqs    map[identity.ID]uint64
	updates []ValidatorUpdate // of the last block
}

var genesisTime = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// newTestChain starts a chain with n genesis authorities, authority i
// heading cluster i+1.
func newTestChain(t *testing.T, n int) *testChain {
	t.Helper()
	c := &testChain{t: t, m: NewMachine(), st: memStore{}, now: genesisTime, seqs: map[identity.ID]uint64{}}
	g := &Genesis{Params: DefaultParams()}
	for i := range n {
		id := mustIdentity(t, identity.RoleAuthority)
		cons := make([]byte, 32)
		cons[0], cons[1] = byte(i+1), 0xc0
		c.auths = append(c.auths, id)
		c.cons = append(c.cons, cons)
		g.Authorities = append(g.Authorities, GenesisAuthority{
			Name: "ch" + itoa(int64(i)), Key: id.Public().Verifying.String(), Consensus: cons, Cluster: uint32(i + 1),
		})
	}
	res, err := c.m.InitChain(c.st, g, genesisTime)
	if err != nil {
		t.Fatal(err)
	}
	c.st.apply(res.Writes)
	c.appHash = res.AppHash
	return c
}

func mustIdentity(t testing.TB, role identity.Role) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(role, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tx signs body by key with the key's next sequence number.
func (c *testChain) tx(key *identity.SigningKey, body Body) []byte {
	c.t.Helper()
	id := key.Public().ID()
	c.seqs[id]++
	b, err := NewTx(key, c.seqs[id], body)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// block executes a block of txs one second after the last and commits it.
func (c *testChain) block(txs ...[]byte) []TxResult {
	c.t.Helper()
	c.height++
	c.now = c.now.Add(time.Second)
	res, err := c.m.Execute(c.st, c.appHash, Block{Height: c.height, Time: c.now, Txs: txs})
	if err != nil {
		c.t.Fatal(err)
	}
	c.st.apply(res.Writes)
	c.appHash = res.AppHash
	c.updates = res.ValidatorUpdates
	return res.TxResults
}

// ok executes body in its own block and fails the test unless it succeeds.
func (c *testChain) ok(key *identity.SigningKey, body Body) TxResult {
	c.t.Helper()
	r := c.block(c.tx(key, body))[0]
	if r.Code != CodeOK {
		c.t.Fatalf("%s by %s: %s: %s", body.TxType(), key.Role(), r.Code, r.Log)
	}
	return r
}

// fails executes body in its own block and checks it is refused with code.
func (c *testChain) fails(key *identity.SigningKey, body Body, code Code) TxResult {
	c.t.Helper()
	r := c.block(c.tx(key, body))[0]
	if r.Code != code {
		c.t.Fatalf("%s by %s: got %s (%s), want %s", body.TxType(), key.Role(), r.Code, r.Log, code)
	}
	return r
}

// register admits a new actor of role to cluster 1 (devices: to patient).
func (c *testChain) register(role identity.Role, patient *identity.Identity) *identity.Identity {
	c.t.Helper()
	id := mustIdentity(c.t, role)
	var cons []byte
	if role == identity.RoleAuthority {
		cons = make([]byte, 32)
		copy(cons, id.ID().Hex())
	}
	r := &Register{Member: KeysOf(id.Public(), cons), Cluster: 1}
	signer := c.auths[0].Signing
	if role == identity.RoleDevice {
		r.Cluster = 0
		r.Patient = patient.ID()
		signer = patient.Signing
	}
	if err := r.Prove(id.Signing); err != nil {
		c.t.Fatal(err)
	}
	c.ok(signer, r)
	return id
}

// query runs a query and decodes it.
func (c *testChain) query(path string, v any) error {
	b, err := Query(c.st, path)
	if err != nil {
		return err
	}
	return unmarshal(b, v)
}

func unmarshal(b []byte, v any) error { return codec.UnmarshalLimit(b, 1<<24, v) }

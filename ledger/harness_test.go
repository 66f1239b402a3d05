package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/statetree"
	"github.com/vitalchain/vitalchain/vital"
)

// testGenesis is a genesis with the secrets of its authorities, so that two
// chains can start from the same one.
type testGenesis struct {
	g     *Genesis
	auths []*identity.Identity
	cons  [][]byte
}

// newGenesis makes a genesis with n authorities, authority i heading
// cluster i+1 with consensus key cons[i].
func newGenesis(t testing.TB, n int) *testGenesis {
	t.Helper()
	tg := &testGenesis{g: &Genesis{Params: testParams()}}
	for i := range n {
		id := mustIdentity(t, identity.RoleAuthority)
		cons := make([]byte, 32)
		cons[0], cons[1] = byte(i+1), 0xc0
		tg.auths = append(tg.auths, id)
		tg.cons = append(tg.cons, cons)
		tg.g.Authorities = append(tg.g.Authorities, GenesisAuthority{
			Name: "ch" + itoa(int64(i)), Key: id.Public().Verifying.String(), Consensus: cons, Cluster: uint32(i + 1),
		})
	}
	return tg
}

// testChain runs the state machine over an in-memory store, block by block.
//
// Every block is checked against what CometBFT demands of validator
// updates: no key twice in one block, no removal of a key that is not a
// validator, never an empty set, and the set the updates build is the
// ledger's authorities.
type testChain struct {
	t       testing.TB
	m       *Machine
	st      MemStore
	height  int64
	now     time.Time
	appHash [32]byte
	tree    *statetree.Tree // commits st: its root is appHash
	auths   []*identity.Identity
	cons    [][]byte // consensus keys of auths
	seqs    map[identity.ID]uint64
	updates []ValidatorUpdate // of the last block
	results []TxResult        // of the last block

	warm       bool             // CheckTx every transaction before executing it
	signers    [][]byte         // the consensus addresses each block says signed the last commit (nil: not known)
	blocks     []Block          // every block executed, for replay
	allResults [][]TxResult     // the results of every block
	hashes     [][32]byte       // app hash after each height, from 0
	vals       map[string]int64 // the validator set CometBFT builds from the updates
}

var genesisTime = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// testChainID is the chain ID of every test chain.
const testChainID = "vitalchain-test"

// newTestChain starts a chain with n genesis authorities, authority i
// heading cluster i+1.
func newTestChain(t testing.TB, n int) *testChain {
	t.Helper()
	return startChain(t, newGenesis(t, n))
}

// startChain starts a chain from tg.
func startChain(t testing.TB, tg *testGenesis) *testChain {
	t.Helper()
	c := &testChain{
		t: t, m: NewMachine(), st: MemStore{}, tree: statetree.NewMemory(), now: genesisTime, seqs: map[identity.ID]uint64{},
		auths: tg.auths, cons: tg.cons, vals: map[string]int64{},
	}
	res, err := c.m.InitChain(c.st, c.tree, testChainID, tg.g, genesisTime)
	if err != nil {
		t.Fatal(err)
	}
	c.st.Apply(res.Writes)
	c.appHash = res.AppHash
	c.hashes = append(c.hashes, res.AppHash)
	c.checkUpdates(res.ValidatorUpdates)
	return c
}

func mustIdentity(t testing.TB, role identity.Role) *identity.Identity {
	t.Helper()
	return mustIdentitySuite(t, role, identity.SuiteX25519)
}

func mustIdentitySuite(t testing.TB, role identity.Role, suite identity.Suite) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(role, suite)
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
	return c.txSeq(key, c.seqs[id], body)
}

// txSeq signs body by key with sequence number seq.
func (c *testChain) txSeq(key *identity.SigningKey, seq uint64, body Body) []byte {
	c.t.Helper()
	b, err := NewTx(testChainID, key, seq, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// block executes a block of txs one second after the last and commits it.
func (c *testChain) block(txs ...[]byte) []TxResult {
	c.t.Helper()
	return c.blockAt(c.now.Add(time.Second), txs...)
}

// blockAt executes a block of txs at time t and commits it.
func (c *testChain) blockAt(t time.Time, txs ...[]byte) []TxResult {
	c.t.Helper()
	c.height++
	c.now = t
	if c.warm {
		for _, tx := range txs {
			c.m.CheckTx(nil, tx) //nolint:errcheck // only warms the cache
		}
	}
	b := Block{Height: c.height, Time: c.now, Txs: txs, Signers: c.signers}
	res, err := c.m.Execute(c.st, c.tree, b)
	if err != nil {
		c.t.Fatal(err)
	}
	c.st.Apply(res.Writes)
	c.m.Committed()
	c.appHash = res.AppHash
	c.updates = res.ValidatorUpdates
	c.results = res.TxResults
	c.blocks = append(c.blocks, b)
	c.allResults = append(c.allResults, res.TxResults)
	c.hashes = append(c.hashes, res.AppHash)
	c.checkUpdates(res.ValidatorUpdates)
	return res.TxResults
}

// checkUpdates applies a block's validator updates to c.vals as CometBFT
// would, failing where CometBFT would refuse them, and compares the result
// with the ledger's authorities.
func (c *testChain) checkUpdates(ups []ValidatorUpdate) {
	c.t.Helper()
	seen := map[string]bool{}
	for _, u := range ups {
		k := string(u.PubKey)
		if seen[k] {
			c.t.Fatalf("height %d: validator %x updated twice in one block: %v", c.height, u.PubKey[:4], ups)
		}
		seen[k] = true
		switch {
		case u.Power < 0:
			c.t.Fatalf("height %d: negative power %d", c.height, u.Power)
		case u.Power == 0:
			if _, ok := c.vals[k]; !ok {
				c.t.Fatalf("height %d: removal of %x, which is not a validator", c.height, u.PubKey[:4])
			}
			delete(c.vals, k)
		default:
			c.vals[k] = u.Power
		}
	}
	if len(c.vals) == 0 {
		c.t.Fatalf("height %d: empty validator set", c.height)
	}
	var auths []Authority
	if err := c.query("authorities", &auths); err != nil {
		c.t.Fatal(err)
	}
	got := map[string]int64{}
	for _, a := range auths {
		got[string(a.Consensus)] = a.Power
	}
	if len(got) != len(auths) || len(got) != len(c.vals) {
		c.t.Fatalf("height %d: %d authorities (%d consensus keys), %d validators", c.height, len(auths), len(got), len(c.vals))
	}
	for k, p := range c.vals {
		if got[k] != p {
			c.t.Fatalf("height %d: validator %x has power %d, authority %d", c.height, k[:4], p, got[k])
		}
	}
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
	if role == identity.RoleDevice {
		id := mustIdentity(c.t, role)
		c.ok(patient.Signing, c.registerBody(id, 0, patient.ID(), id.Signing))
		return id
	}
	return c.registerIn(role, identity.SuiteX25519, 1)
}

// registerIn admits a new actor of role, with an encryption key of suite,
// to cluster, by the cluster's genesis head.
func (c *testChain) registerIn(role identity.Role, suite identity.Suite, cluster uint32) *identity.Identity {
	c.t.Helper()
	id := mustIdentitySuite(c.t, role, suite)
	c.ok(c.auths[cluster-1].Signing, c.registerBody(id, cluster, identity.ID{}, id.Signing))
	return id
}

// registerBody returns the registration of id in cluster (devices: of
// patient), its proof signed by prover.
func (c *testChain) registerBody(id *identity.Identity, cluster uint32, patient identity.ID, prover *identity.SigningKey) *Register {
	c.t.Helper()
	var cons []byte
	if id.Role() == identity.RoleAuthority {
		cons = consensusKeyOf(id)
	}
	r := &Register{Member: KeysOf(id.Public(), cons), Cluster: cluster, Patient: patient}
	if err := r.Prove(prover); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// consensusKeyOf returns a consensus key for an authority: a real Ed25519
// public key derived from its ID, so unique and deterministic.
func consensusKeyOf(id *identity.Identity) []byte {
	seed := sha256.Sum256([]byte(id.ID().Hex()))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}

// query runs a query and decodes it into v, which it zeroes first.
func (c *testChain) query(path string, v any) error {
	reflect.ValueOf(v).Elem().SetZero()
	b, err := Query(c.st, path)
	if err != nil {
		return err
	}
	return unmarshal(b, v)
}

// mustQuery runs a query, decodes it, and fails the test if it fails.
func (c *testChain) mustQuery(path string, v any) {
	c.t.Helper()
	if err := c.query(path, v); err != nil {
		c.t.Fatalf("query %s: %v", path, err)
	}
}

func unmarshal(b []byte, v any) error { return codec.UnmarshalLimit(b, 1<<24, v) }

// expiry returns a grant expiry d after the current block time.
func (c *testChain) expiry(d time.Duration) int64 { return c.now.Add(d).UnixMilli() }

// --- keys ---

func newSessionKey(t testing.TB) envelope.SessionKey {
	t.Helper()
	k, err := envelope.NewSessionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// envBytes marshals an envelope made by one of package envelope's constructors.
func envBytes(t testing.TB, e *envelope.Envelope, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// grantEnv returns the encoding of patient's key of epoch wrapped to provider.
func grantEnv(t testing.TB, patient, provider *identity.Identity, epoch uint64, key envelope.SessionKey) []byte {
	t.Helper()
	e, err := envelope.GrantEnvelope(patient, provider.Public(), epoch, key)
	return envBytes(t, e, err)
}

// sessionKeyBody returns transaction 1 of patient's epoch with key.
func sessionKeyBody(t testing.TB, patient *identity.Identity, epoch uint64, key envelope.SessionKey) *SessionKey {
	t.Helper()
	e, err := envelope.SelfEnvelope(patient, epoch, key)
	return &SessionKey{Epoch: epoch, Envelope: envBytes(t, e, err)}
}

// startEpoch commits a session key for patient's epoch and returns the key.
func (c *testChain) startEpoch(patient *identity.Identity, epoch uint64) envelope.SessionKey {
	c.t.Helper()
	k := newSessionKey(c.t)
	c.ok(patient.Signing, sessionKeyBody(c.t, patient, epoch, k))
	return k
}

// grantBody returns transaction 2: patient's key of epoch to provider.
func grantBody(t testing.TB, patient, provider *identity.Identity, epoch uint64, key envelope.SessionKey, commands bool, expiry int64) *Grant {
	t.Helper()
	e, err := envelope.GrantEnvelope(patient, provider.Public(), epoch, key)
	return &Grant{
		Provider: provider.ID(), Commands: commands,
		Expiry: expiry, Epoch: epoch, Envelope: envBytes(t, e, err), Keys: scopeKeysOf(t),
	}
}

// scopeKeysOf returns sealed scope keys (glucose and heart rate of a
// random epoch key): the ledger checks only their size.
func scopeKeysOf(t testing.TB) []byte {
	t.Helper()
	b, err := envelope.SealScope(newSessionKey(t), identity.ID{1}, identity.ID{2}, 1, []vital.Kind{vital.Glucose, vital.HeartRate})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- contracts ---

var glucoseRule = contract.Rule{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: contract.Warning}

// terms returns contract terms between patient and providers with rules.
func terms(patient identity.ID, rules []contract.Rule, providers ...identity.ID) contract.Terms {
	ps := slices.Clone(providers)
	slices.SortFunc(ps, cmpID)
	return contract.Terms{Version: contract.Version, Patient: patient, Providers: ps, Rules: rules, Name: "test"}
}

// testSalt is the salt of tm in tests: its hash, so that a test knows a
// contract's ID before it deploys it.
func testSalt(tm contract.Terms) [contract.SaltSize]byte {
	h, _ := tm.Hash()
	return h
}

// contractID returns the ID of tm as deployBody deploys it.
func contractID(t testing.TB, tm contract.Terms) [32]byte {
	t.Helper()
	id, err := tm.Commit(testSalt(tm))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// deployBody returns the deployment of tm by patient, sealed with
// testSalt, accepted by signers (any order).
func deployBody(t testing.TB, patient *identity.Identity, tm contract.Terms, signers ...*identity.Identity) *DeployContract {
	t.Helper()
	pubs := make([]identity.Public, len(signers))
	for i, s := range signers {
		pubs[i] = s.Public()
	}
	sealed, err := contract.SealWith(patient, pubs, tm, testSalt(tm))
	if err != nil {
		t.Fatal(err)
	}
	d := &DeployContract{Providers: tm.Providers, Sealed: *sealed}
	for _, p := range tm.Providers {
		i := slices.IndexFunc(signers, func(s *identity.Identity) bool { return s.ID() == p })
		if i < 0 {
			t.Fatalf("no signer for provider %s", p)
		}
		a, err := Accept(signers[i].Signing, &tm, testSalt(tm))
		if err != nil {
			t.Fatal(err)
		}
		d.Acceptances = append(d.Acceptances, a)
	}
	return d
}

// deploy commits a glucose contract between patient and providers.
func (c *testChain) deploy(patient *identity.Identity, providers ...*identity.Identity) [32]byte {
	c.t.Helper()
	ids := make([]identity.ID, len(providers))
	for i, p := range providers {
		ids[i] = p.ID()
	}
	tm := terms(patient.ID(), []contract.Rule{glucoseRule}, ids...)
	c.ok(patient.Signing, deployBody(c.t, patient, tm, providers...))
	h, err := tm.Commit(testSalt(tm))
	if err != nil {
		c.t.Fatal(err)
	}
	return h
}

// --- events ---

// attrs returns the values of key in the first event of type typ.
func attrs(evs []Event, typ, key string) []string {
	for _, e := range evs {
		if e.Type != typ {
			continue
		}
		var vs []string
		for _, a := range e.Attrs {
			if a.Key == key {
				vs = append(vs, a.Value)
			}
		}
		return vs
	}
	return nil
}

func hasEvent(evs []Event, typ string) bool {
	return slices.ContainsFunc(evs, func(e Event) bool { return e.Type == typ })
}

func sameIDs(a, b []identity.ID) bool {
	return slices.EqualFunc(a, b, func(x, y identity.ID) bool { return bytes.Equal(x[:], y[:]) })
}

// testParams are the default parameters, with anchors of another cluster
// passed on for 500 ms so that the proposer policy has something to do.
func testParams() Params {
	p := DefaultParams()
	p.AnchorPassAfterMs = 500
	return p
}

package provider_test

import (
	"context"
	"flag"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// world is one running 4-authority chain and one cloud (the testbed's),
// shared by every test of the binary: each test registers its own patients
// and providers.
type world struct {
	dir     string
	chain   *testbed.Chain
	cloud   *testbed.Cloud
	clients []*client.Client
	cloudID *identity.Identity
	cc      *cloudapi.Client
}

var (
	shared     *world
	sharedErr  error
	sharedOnce sync.Once
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared != nil {
		shared.close()
	}
	os.Exit(code)
}

// getWorld starts the shared world on first use.
func getWorld(t *testing.T) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	sharedOnce.Do(func() { shared, sharedErr = startWorld() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func startWorld() (*world, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "provider-test-")
	if err != nil {
		return nil, err
	}
	w := &world{dir: dir}
	fail := func(err error) (*world, error) { w.close(); return nil, err }
	if w.chain, err = testbed.StartChain(ctx, testbed.ChainOptions{Dir: dir + "/chain"}); err != nil {
		return fail(err)
	}
	w.clients = w.chain.Clients(0, 4)
	if w.cloudID, err = w.register(ctx, identity.RoleCloud); err != nil {
		return fail(err)
	}
	w.cloud, err = testbed.StartCloud(ctx, testbed.CloudOptions{Key: w.cloudID, Dir: dir + "/cloud", Clients: w.clients, BlockRecords: 8})
	if err != nil {
		return fail(err)
	}
	w.cc = w.cloud.Client()
	return w, nil
}

func (w *world) close() {
	if w.cloud != nil {
		w.cloud.Close()
	}
	if w.chain != nil {
		w.chain.Stop()
	}
	os.RemoveAll(w.dir)
}

// submit commits body signed by key, and waits until every node has it.
func (w *world) submit(ctx context.Context, key *identity.SigningKey, body ledger.Body) error {
	_, err := w.chain.Submit(ctx, key, body)
	return err
}

// register admits a new actor to cluster 1, the cloud's.
func (w *world) register(ctx context.Context, role identity.Role) (*identity.Identity, error) {
	return w.chain.Register(ctx, role, identity.SuiteX25519, 1)
}

func (w *world) ok(t *testing.T, key *identity.SigningKey, body ledger.Body) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.submit(ctx, key, body); err != nil {
		t.Fatal(err)
	}
}

func (w *world) member(t *testing.T, role identity.Role) *identity.Identity {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := w.register(ctx, role)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newProvider registers a provider and returns it with its Provider.
func (w *world) newProvider(t *testing.T) (*identity.Identity, *provider.Provider) {
	t.Helper()
	id := w.member(t, identity.RoleProvider)
	return id, w.providerFor(t, id, w.cc)
}

func (w *world) providerFor(t *testing.T, id *identity.Identity, cc *cloudapi.Client) *provider.Provider {
	t.Helper()
	p, err := provider.New(provider.Config{Key: id, Chain: w.clients[1], Cloud: cc, PollWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// patient is a registered patient with one registered device, a session
// key and a glucose contract naming some providers.
type patient struct {
	w        *world
	t        *testing.T
	id       *identity.Identity
	dev      *identity.Identity
	contract [32]byte
	epoch    uint64
	key      envelope.SessionKey
	seq      uint64 // the gateway's record seq
	rseq     uint64 // the device's reading seq
}

func (w *world) newPatient(t *testing.T, providers ...*identity.Identity) *patient {
	t.Helper()
	p := &patient{w: w, t: t, id: w.member(t, identity.RolePatient), epoch: 1}
	var err error
	if p.dev, err = identity.Generate(identity.RoleDevice, identity.SuiteX25519); err != nil {
		t.Fatal(err)
	}
	reg, err := ledger.NewRegister(p.dev, 0, p.id.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.ok(t, p.id.Signing, reg)
	p.key, _ = envelope.NewSessionKey()
	self, _ := envelope.SelfEnvelope(p.id, 1, p.key)
	sb, _ := self.Marshal()
	w.ok(t, p.id.Signing, &ledger.SessionKey{Epoch: 1, Envelope: sb})
	if len(providers) == 0 {
		return p // no contract
	}
	terms := contract.Terms{Version: contract.Version, Patient: p.id.ID(), Name: "test",
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: contract.Warning}}}
	for _, pr := range providers {
		terms.Providers = append(terms.Providers, pr.ID())
	}
	dc, err := ledger.NewDeployContract(p.id, terms, providers...)
	if err != nil {
		t.Fatal(err)
	}
	w.ok(t, p.id.Signing, dc)
	p.contract = dc.ID()
	return p
}

// grant gives a provider the current epoch's key for kinds for an hour.
func (p *patient) grant(to *identity.Identity, commands bool, kinds ...vital.Kind) {
	p.t.Helper()
	// As the gateway does: the envelope wraps the grant's key, which
	// opens the keys of the scope's vital signs.
	e, err := envelope.GrantEnvelope(p.id, to.Public(), p.epoch, envelope.GrantKey(p.key, p.id.ID(), to.ID(), p.epoch))
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := e.Marshal()
	keys, err := envelope.SealScope(p.key, p.id.ID(), to.ID(), p.epoch, kinds)
	if err != nil {
		p.t.Fatal(err)
	}
	p.w.ok(p.t, p.id.Signing, &ledger.Grant{Provider: to.ID(), Keys: keys, Commands: commands,
		Expiry: time.Now().Add(time.Hour).UnixMilli(), Epoch: p.epoch, Envelope: b})
}

// reading returns a reading of the patient's device, signed by it.
func (p *patient) reading(kind vital.Kind, v vital.Quantity, at time.Time) []byte {
	p.t.Helper()
	p.rseq++
	msg, err := reading.Sign(reading.New(p.id.ID(), p.dev.ID(), p.rseq, at, kind, v), p.dev.Signing)
	if err != nil {
		p.t.Fatal(err)
	}
	return msg
}

// seal seals plaintext as the gateway does, under a header of kind at.
func (p *patient) seal(kind vital.Kind, at time.Time, plaintext []byte) *record.Record {
	p.t.Helper()
	p.seq++
	h := record.Header{Patient: p.id.ID(), Epoch: p.epoch, Contract: p.contract, Alert: true, Time: at.UnixMilli(), Seq: p.seq}
	pl := record.Payload{Kind: kind, Severity: uint8(contract.Warning), Body: plaintext}
	r, err := record.Seal(h, envelope.KindKey(p.key, p.id.ID(), p.epoch, kind), pl, p.id.Signing)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// abnormal seals a signed reading of kind as the gateway does.
func (p *patient) abnormal(kind vital.Kind, v vital.Quantity) *record.Record {
	at := time.Now()
	return p.seal(kind, at, p.reading(kind, v, at))
}

// upload stores records in the cloud and returns their IDs and indexes.
func (w *world) upload(t *testing.T, recs ...*record.Record) ([][32]byte, []uint64) {
	t.Helper()
	var raws [][]byte
	for _, r := range recs {
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acks, err := w.cc.Upload(ctx, raws)
	if err != nil {
		t.Fatal(err)
	}
	var ids [][32]byte
	var idx []uint64
	for i, a := range acks {
		if a.Code != "" {
			t.Fatalf("record %d refused: %s: %s", i, a.Code, a.Error)
		}
		ids, idx = append(ids, a.ID), append(idx, a.Index)
	}
	return ids, idx
}

// waitAnchored waits until the cloud's records log is anchored past index.
func (w *world) waitAnchored(t *testing.T, index uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		a, err := w.clients[2].Anchor(ctx, w.cloudID.ID(), ledger.LogRecords)
		if err == nil && a.Checkpoint.Size > index {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("record %d never anchored: %v", index, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

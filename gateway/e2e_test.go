package gateway_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// world is a 4-authority chain, a cloud, a patient with one device, a
// provider and a glucose contract between them.
type world struct {
	t        *testing.T
	ctx      context.Context
	net      *chain.LocalNet
	cl       *client.Client
	cloudID  *identity.Identity
	cloud    *cloud.Service
	cc       *cloudapi.Client
	sender   *switchSender
	patient  *identity.Identity
	provider *identity.Identity
	device   *identity.SigningKey
	contract [32]byte
	seq      uint64

	mu  sync.Mutex
	ids [][32]byte // records sealed, in order
}

func (w *world) sealed() [][32]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][32]byte(nil), w.ids...)
}

// switchSender is the cloud sender, with a switch that makes the cloud
// unreachable.
type switchSender struct {
	mu   sync.Mutex
	down bool
	s    outbox.Sender
}

func (s *switchSender) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func (s *switchSender) Send(ctx context.Context, recs [][]byte) ([]outbox.Result, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errors.New("cloud unreachable")
	}
	return s.s.Send(ctx, recs)
}

func newWorld(t *testing.T) *world {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 4, Dir: t.TempDir(), BlockInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, net: ln, cl: client.New(ln.Nodes[0].Local(), nil)}
	t.Cleanup(func() { w.cl.Close(); ln.Stop() })
	w.cloudID = w.register(identity.RoleCloud, identity.ID{})
	w.patient = w.register(identity.RolePatient, identity.ID{})
	w.provider = w.register(identity.RoleProvider, identity.ID{})
	dev, _ := identity.Generate(identity.RoleDevice, identity.SuiteX25519)
	w.admit(w.patient, dev, w.patient.ID())
	w.device = dev.Signing
	terms := contract.Terms{Version: contract.Version, Patient: w.patient.ID(), Providers: []identity.ID{w.provider.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: contract.Warning}}, Name: "glucose"}
	acc, _ := ledger.Accept(w.provider.Signing, &terms)
	w.submit(w.patient.Signing, &ledger.DeployContract{Terms: terms, Acceptances: []ledger.Acceptance{acc}})
	w.contract, _ = terms.Hash()

	pst, err := pebblestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cloud.New(ctx, cloud.Config{Key: w.cloudID.Signing, Store: pst,
		Ledger: cloud.NewChainLedger([]*client.Client{w.cl}, w.cloudID.Signing, 5*time.Second), BlockInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(nil))
	t.Cleanup(func() { srv.Close(); svc.Close(); pst.Close() })
	w.cloud, w.cc = svc, cloudapi.NewClient(srv.URL, nil)
	w.sender = &switchSender{s: gateway.CloudSender{Client: w.cc}}
	return w
}

func (w *world) submit(key *identity.SigningKey, body ledger.Body) {
	w.t.Helper()
	s, err := w.cl.Signer(w.ctx, key)
	if err != nil {
		w.t.Fatal(err)
	}
	cm, err := s.Submit(w.ctx, body)
	if err == nil {
		err = cm.Err()
	}
	if err != nil {
		w.t.Fatalf("%s: %v", body.TxType(), err)
	}
}

func (w *world) admit(by, id *identity.Identity, patient identity.ID) {
	w.t.Helper()
	r, err := ledger.NewRegister(id, 1, patient, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.submit(by.Signing, r)
}

func (w *world) register(role identity.Role, patient identity.ID) *identity.Identity {
	w.t.Helper()
	id, err := identity.Generate(role, identity.SuiteX25519)
	if err != nil {
		w.t.Fatal(err)
	}
	w.admit(w.net.Nodes[0].Authority(), id, patient)
	return id
}

func (w *world) gateway(dir string, commands func(identity.ID, []byte) error) *gateway.Gateway {
	w.t.Helper()
	g, err := gateway.New(w.ctx, gateway.Config{Patient: w.patient, Chain: w.cl, Cloud: w.sender, Dir: dir, Commands: commands,
		OnSealed: func(_ reading.Reading, id [32]byte) { w.mu.Lock(); w.ids = append(w.ids, id); w.mu.Unlock() },
		Uploader: outbox.UploaderOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// reading signs a glucose reading of the device with the next sequence number.
func (w *world) reading(mgdl int64) []byte {
	w.t.Helper()
	w.seq++
	return w.readingSeq(w.device, w.patient.ID(), w.seq, mgdl)
}

func (w *world) readingSeq(key *identity.SigningKey, patient identity.ID, seq uint64, mgdl int64) []byte {
	w.t.Helper()
	r := reading.New(patient, key.Public().ID(), seq, time.Now(), vital.Glucose, vital.Quantity(mgdl*1000))
	b, err := reading.Sign(r, key)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func TestGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	w := newWorld(t)
	ctx := w.ctx
	dir := t.TempDir()
	var cmdMu sync.Mutex
	var cmds [][]byte
	g := w.gateway(dir, func(dev identity.ID, b []byte) error {
		cmdMu.Lock()
		defer cmdMu.Unlock()
		cmds = append(cmds, b)
		return nil
	})
	if g.Patient().Epoch() != 1 {
		t.Fatalf("a new patient's gateway starts epoch 1, got %d", g.Patient().Epoch())
	}
	if got := g.Contracts(); len(got) != 1 || got[0] != w.contract {
		t.Fatalf("contracts %x, want the glucose contract", got)
	}

	// Normal readings go nowhere; abnormal ones are sealed and stored.
	for _, v := range []int64{100, 110, 250, 95, 60} {
		if err := g.HandleReading(ctx, w.reading(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := g.Stats()
	if st.Readings != 5 || st.Abnormal != 2 || st.Sealed != 2 || st.Upload.Stored != 2 {
		t.Fatalf("stats %+v: want 5 readings, 2 abnormal, 2 sealed and stored", st)
	}
	rc, _, _, _ := w.cloud.Checkpoints()
	if rc.Size != 2 {
		t.Fatalf("cloud holds %d records, want 2", rc.Size)
	}

	// Refusals, each with its reason.
	stranger, _ := identity.Generate(identity.RoleDevice, identity.SuiteX25519)
	forged := w.reading(300)
	forged[len(forged)-1] ^= 1
	otherPatient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	replay := w.readingSeq(w.device, w.patient.ID(), 2, 300)
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"garbage", []byte("not a reading"), gateway.ErrMalformed},
		{"unknown device", w.readingSeq(stranger.Signing, w.patient.ID(), 1, 300), gateway.ErrUnknownDevice},
		{"forged", forged, gateway.ErrBadSignature},
		{"other patient", w.readingSeq(w.device, otherPatient.ID(), 99, 300), gateway.ErrOtherPatient},
		{"replay", replay, gateway.ErrReplay},
	} {
		if err := g.HandleReading(ctx, tc.msg); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A reading from the future, and messages whose topic does not match.
	w.seq++
	future := reading.New(w.patient.ID(), w.device.Public().ID(), w.seq, time.Now().Add(10*time.Minute), vital.Glucose, 300*vital.Unit)
	fb, _ := reading.Sign(future, w.device)
	if err := g.HandleReading(ctx, fb); !errors.Is(err, gateway.ErrFuture) {
		t.Errorf("future reading: %v", err)
	}
	good := w.reading(100)
	for _, topic := range []string{
		mqtt.ReadingsTopic(otherPatient.ID(), w.device.Public().ID()),
		mqtt.ReadingsTopic(w.patient.ID(), stranger.ID()),
		mqtt.CommandsTopic(w.patient.ID(), w.device.Public().ID()),
		"vitalchain/nonsense",
	} {
		if err := g.HandleMessage(ctx, topic, good); !errors.Is(err, gateway.ErrTopic) {
			t.Errorf("topic %q: %v", topic, err)
		}
	}
	if err := g.HandleMessage(ctx, mqtt.ReadingsTopic(w.patient.ID(), w.device.Public().ID()), good); err != nil {
		t.Errorf("a good message: %v", err)
	}
	st = g.Stats()
	if st.Refused["topic"] != 4 || st.Refused["future"] != 1 {
		t.Errorf("refused %v: want 4 for topic, 1 for future", st.Refused)
	}
	for _, r := range []string{"malformed", "unknown_device", "bad_signature", "other_patient", "replay"} {
		if st.Refused[r] != 1 {
			t.Errorf("refused[%s] = %d, want 1 (%v)", r, st.Refused[r], st.Refused)
		}
	}
	if st.Sealed != 2 {
		t.Fatalf("a refused reading was sealed: %d", st.Sealed)
	}

	// The cloud is down: abnormal readings wait in the outbox, then go.
	w.sender.set(true)
	var last []byte
	for range 3 {
		last = w.reading(400)
		if err := g.HandleReading(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(150 * time.Millisecond)
	if st := g.Stats(); st.Pending != 3 {
		t.Fatalf("%d records pending while the cloud is down, want 3", st.Pending)
	}
	w.sender.set(false)
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rc, _, _, _ := w.cloud.Checkpoints(); rc.Size != 5 {
		t.Fatalf("cloud holds %d records after it came back, want 5", rc.Size)
	}

	// A crash that loses the last sequence numbers: the redelivered reading
	// is sealed again into the very same record, a duplicate for the cloud.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "devices.cbor")); err != nil {
		t.Fatal(err)
	}
	g = w.gateway(dir, func(dev identity.ID, b []byte) error {
		cmdMu.Lock()
		defer cmdMu.Unlock()
		cmds = append(cmds, b)
		return nil
	})
	if err := g.HandleReading(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rc, _, _, _ := w.cloud.Checkpoints(); rc.Size != 5 {
		t.Fatalf("cloud holds %d records after a redelivery, want still 5", rc.Size)
	}
	if ids := w.sealed(); ids[len(ids)-1] != ids[len(ids)-2] {
		t.Fatal("the redelivered reading was sealed into another record")
	}

	// Grant, a device command, revoke.
	if err := g.Patient().Grant(ctx, w.provider.ID(), []vital.Kind{vital.Glucose}, true, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.submit(w.provider.Signing, &ledger.DeviceCommand{Device: w.device.Public().ID(), Command: command.SamplingInterval, Value: 5000})
	var c *command.Command
	for deadline := time.Now().Add(10 * time.Second); c == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("device command never relayed")
		}
		cmdMu.Lock()
		if len(cmds) > 0 {
			var err error
			if c, err = command.Parse(cmds[0], w.patient.Signing.Public(), w.device.Public().ID()); err != nil {
				t.Fatal(err)
			}
		}
		cmdMu.Unlock()
	}
	if c.Command != command.SamplingInterval || c.Value != 5000 || c.Provider != w.provider.ID() {
		t.Fatalf("relayed command %+v", c)
	}
	var latch command.Latch
	if err := latch.Accept(c); err != nil {
		t.Fatal(err)
	}
	if err := latch.Accept(c); !errors.Is(err, command.ErrStale) {
		t.Fatalf("replayed command: %v", err)
	}
	if err := g.Patient().Revoke(ctx, w.provider.ID()); err != nil {
		t.Fatal(err)
	}
	if g.Patient().Epoch() != 2 {
		t.Fatalf("epoch after revoke %d, want 2", g.Patient().Epoch())
	}
	if err := g.Patient().Revoke(ctx, w.provider.ID()); !errors.Is(err, gateway.ErrNotGranted) {
		t.Fatalf("second revoke: %v", err)
	}
	if err := g.HandleReading(ctx, w.reading(420)); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var re *cloudapi.RequestError
	if _, err := w.cc.Read(ctx, w.provider.Signing, w.sealed()[0]); !errors.As(err, &re) || re.Code != "revoked" {
		t.Fatalf("the revoked provider's read: %v", err)
	}
	if _, err := w.cc.Read(ctx, w.patient.Signing, w.sealed()[0]); err != nil {
		t.Fatalf("the patient's own read: %v", err)
	}

	// A restart keeps the devices' sequence numbers and the epoch.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g = w.gateway(dir, nil)
	defer g.Close()
	if g.Patient().Epoch() != 2 {
		t.Fatalf("epoch after restart %d, want 2", g.Patient().Epoch())
	}
	if err := g.HandleReading(ctx, w.readingSeq(w.device, w.patient.ID(), w.seq, 300)); !errors.Is(err, gateway.ErrReplay) {
		t.Fatalf("replay after restart: %v", err)
	}

	// The patient moves to cluster 2 with its device; its records still go
	// to its home cluster's cloud.
	if err := g.Patient().Migrate(ctx, 2, []identity.ID{w.device.Public().ID()}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []identity.ID{w.patient.ID(), w.device.Public().ID()} {
		if m, err := w.cl.Member(ctx, id); err != nil || m.Cluster != 2 || m.Home != 1 {
			t.Fatalf("member %s after migrating: %+v %v", id, m, err)
		}
	}
	if err := g.Patient().Migrate(ctx, 2, nil); !errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
		t.Fatalf("migrating to the cluster it is in: %v", err)
	}
	before, _, _, _ := w.cloud.Checkpoints()
	if err := g.HandleReading(ctx, w.reading(320)); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _, _, _ := w.cloud.Checkpoints(); after.Size != before.Size+1 {
		t.Fatalf("after migrating, the cloud went from %d to %d records", before.Size, after.Size)
	}
}

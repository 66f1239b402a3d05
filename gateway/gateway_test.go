package gateway_test

// The gateway against a ledger in memory (package memchain) and a cloud
// that is a map: the reading path, keys and commands, with no chain to
// start. These run under -short.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/memchain"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// memWorld is a ledger in memory with a patient, its device, a provider and
// a glucose contract between them, and a cloud service (in memory, on that
// ledger) reached without HTTP.
type memWorld struct {
	t        *testing.T
	ctx      context.Context
	chain    *memchain.Chain
	cl       *client.Client
	head     *identity.Identity
	patient  *identity.Identity
	provider *identity.Identity
	device   *identity.SigningKey
	contract [32]byte
	cloud    *memCloud
	seq      uint64
}

// memCloud is a gateway.Cloud over a cloud.Service in process, which can be
// made unreachable, or made to lie (receipt records it never stores).
type memCloud struct {
	svc   *cloud.Service
	store *cloud.MemStore
	mu    sync.Mutex
	down  bool
	liar  bool
}

func (c *memCloud) set(f func(*memCloud)) { c.mu.Lock(); f(c); c.mu.Unlock() }

func (c *memCloud) ID(context.Context) (identity.ID, error) { return c.svc.ID(), nil }

func (c *memCloud) UploadWithReceipt(ctx context.Context, recs [][]byte) (*cloudapi.UploadResponse, error) {
	c.mu.Lock()
	down, liar := c.down, c.liar
	c.mu.Unlock()
	if down {
		return nil, errors.New("cloud unreachable")
	}
	if liar { // acknowledges and receipts what it throws away
		acks := make([]cloudapi.Ack, len(recs))
		for i, b := range recs {
			r, _ := record.ParseRecord(b)
			acks[i] = cloudapi.Ack{ID: r.ID(), Index: 1 << 40}
		}
		rc, err := c.svc.Receipt(acks)
		return &cloudapi.UploadResponse{Acks: acks, Receipt: rc}, err
	}
	acks := c.svc.Ingest(ctx, recs)
	rc, err := c.svc.Receipt(acks)
	return &cloudapi.UploadResponse{Acks: acks, Receipt: rc}, err
}

func (c *memCloud) Proof(_ context.Context, id [32]byte) (*cloudapi.ProofResult, error) {
	return c.svc.Proof(id)
}

// headers returns the stored records' headers, in log order.
func (c *memCloud) headers(t *testing.T) []record.Header {
	t.Helper()
	var hs []record.Header
	for _, r := range c.records(t) {
		h, err := r.Header()
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

// records returns the records the cloud stored, in order.
func (c *memCloud) records(t *testing.T) []*record.Record {
	t.Helper()
	recs, err := c.store.RecordsFrom(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var rs []*record.Record
	for _, sr := range recs {
		r, err := record.ParseRecord(sr.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func newMemWorld(t *testing.T) *memWorld { return newMemWorldCooldown(t, 0) }

// newMemWorldCooldown is newMemWorld with the rule's cool-down (seconds).
func newMemWorldCooldown(t *testing.T, cooldown uint32) *memWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ch, auths, err := memchain.New(1, ledger.Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &memWorld{t: t, ctx: ctx, chain: ch, cl: client.New(ch, nil), head: auths[0].Identity}
	t.Cleanup(func() { w.cl.Close(); ch.Stop() })
	cloudID := w.admit(w.head, identity.RoleCloud, identity.ID{})
	w.cloud = &memCloud{store: cloud.NewMemStore()}
	svc, err := cloud.New(ctx, cloud.Config{Key: cloudID.Signing, Store: w.cloud.store,
		Ledger: cloud.NewChainLedger([]*client.Client{w.cl}, cloudID.Signing, 5*time.Second), BlockInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.cloud.svc = svc
	t.Cleanup(func() { svc.Close() })
	w.patient = w.admit(w.head, identity.RolePatient, identity.ID{})
	w.provider = w.admit(w.head, identity.RoleProvider, identity.ID{})
	w.device = w.admit(w.patient, identity.RoleDevice, w.patient.ID()).Signing
	terms := contract.Terms{Version: contract.Version, Patient: w.patient.ID(), Providers: []identity.ID{w.provider.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: contract.Warning, Cooldown: cooldown}}, Name: "glucose"}
	dc, err := ledger.NewDeployContract(w.patient, terms, w.provider)
	if err != nil {
		t.Fatal(err)
	}
	w.submit(w.patient.Signing, dc)
	w.contract = dc.ID()
	return w
}

func (w *memWorld) submit(key *identity.SigningKey, body ledger.Body) {
	w.t.Helper()
	s, err := w.cl.Signer(w.ctx, key)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := s.Submit(w.ctx, body); err != nil {
		w.t.Fatalf("%s: %v", body.TxType(), err)
	}
}

// admit registers a new actor of role, admitted by by (its cluster's head,
// or the patient for a device).
func (w *memWorld) admit(by *identity.Identity, role identity.Role, patient identity.ID) *identity.Identity {
	w.t.Helper()
	id, err := identity.Generate(role, identity.SuiteX25519)
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := ledger.NewRegister(id, 1, patient, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.submit(by.Signing, r)
	return id
}

// gateway starts the patient's gateway with state in dir.
func (w *memWorld) gateway(dir string, commands func(identity.ID, []byte) error, sealed *[][32]byte) *gateway.Gateway {
	w.t.Helper()
	return w.gatewayAt(dir, commands, sealed, nil)
}

// gatewayAt is gateway with a clock (nil: time.Now).
func (w *memWorld) gatewayAt(dir string, commands func(identity.ID, []byte) error, sealed *[][32]byte, now func() time.Time) *gateway.Gateway {
	w.t.Helper()
	var mu sync.Mutex
	g, err := gateway.New(w.ctx, gateway.Config{Patient: w.patient, Chain: w.cl, Cloud: w.cloud, Dir: dir, Commands: commands, Now: now,
		OnSealed: func(_ reading.Reading, id [32]byte) {
			if sealed != nil {
				mu.Lock()
				*sealed = append(*sealed, id)
				mu.Unlock()
			}
		},
		Uploader: outbox.UploaderOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// reading signs a glucose reading of the device with the next sequence number.
func (w *memWorld) reading(mgdl int64) []byte {
	w.t.Helper()
	w.seq++
	return w.readingOf(w.device, w.patient.ID(), w.seq, time.Now(), mgdl)
}

func (w *memWorld) readingOf(key *identity.SigningKey, patient identity.ID, seq uint64, at time.Time, mgdl int64) []byte {
	w.t.Helper()
	b, err := reading.Sign(reading.New(patient, key.Public().ID(), seq, at, vital.Glucose, vital.Quantity(mgdl*1000)), key)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// TestReadingPath: normal readings go nowhere; abnormal ones are sealed
// under the patient's key, for the contract, and stored; every bad message
// is refused with its reason, counted, and stores nothing.
func TestReadingPath(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	g := w.gateway(t.TempDir(), nil, nil)
	defer g.Close()
	if g.Patient().Epoch() != 1 {
		t.Fatalf("a new patient's gateway starts epoch 1, got %d", g.Patient().Epoch())
	}
	if got := g.Contracts(); len(got) != 1 || got[0] != w.contract {
		t.Fatalf("contracts %x, want the glucose contract", got)
	}
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
	epoch, key := g.Patient().EpochKey()
	for _, r := range w.cloud.records(t) {
		h, err := r.Header()
		if err != nil {
			t.Fatal(err)
		}
		if h.Patient != w.patient.ID() || h.Author != w.patient.ID() || h.Contract != w.contract || !h.Alert || h.Epoch != 1 || epoch != 1 {
			t.Fatalf("record header %+v", h)
		}
		// The vital sign and the severity are in the payload, under the
		// glucose key of the epoch.
		p, err := r.OpenWith(map[vital.Kind]envelope.SessionKey{vital.Glucose: envelope.KindKey(key, w.patient.ID(), epoch, vital.Glucose)})
		if err != nil || p.Kind != vital.Glucose || contract.Severity(p.Severity) != contract.Warning {
			t.Fatalf("payload %+v, %v", p, err)
		}
	}

	stranger, _ := identity.Generate(identity.RoleDevice, identity.SuiteX25519)
	otherPatient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	forged := w.reading(300)
	forged[len(forged)-1] ^= 1
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"garbage", []byte("not a reading"), gateway.ErrMalformed},
		{"unknown device", w.readingOf(stranger.Signing, w.patient.ID(), 1, time.Now(), 300), gateway.ErrUnknownDevice},
		{"forged", forged, gateway.ErrBadSignature},
		{"other patient", w.readingOf(w.device, otherPatient.ID(), 99, time.Now(), 300), gateway.ErrOtherPatient},
		{"replay", w.readingOf(w.device, w.patient.ID(), 2, time.Now(), 300), gateway.ErrReplay},
		{"future", w.readingOf(w.device, w.patient.ID(), w.seq+10, time.Now().Add(10*time.Minute), 300), gateway.ErrFuture},
	} {
		if err := g.HandleReading(ctx, tc.msg); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
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
	want := map[string]uint64{"topic": 4, "future": 1, "malformed": 1, "unknown_device": 1, "bad_signature": 1, "other_patient": 1, "replay": 1}
	for r, n := range want {
		if st.Refused[r] != n {
			t.Errorf("refused[%s] = %d, want %d (%v)", r, st.Refused[r], n, st.Refused)
		}
	}
	if st.Sealed != 2 || len(w.cloud.headers(t)) != 2 {
		t.Fatalf("a refused reading was sealed or stored: %d sealed", st.Sealed)
	}
}

// TestOutageAndRedelivery: while the cloud is down, abnormal readings wait
// in the outbox, and go when it returns; a crash that loses the devices'
// last sequence numbers seals a redelivered reading into the very same
// record; a restart keeps the sequence numbers and the epoch.
func TestOutageAndRedelivery(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	dir := t.TempDir()
	var sealed [][32]byte
	g := w.gateway(dir, nil, &sealed)
	w.cloud.set(func(c *memCloud) { c.down = true })
	var last []byte
	for range 3 {
		last = w.reading(400)
		if err := g.HandleReading(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	if st := g.Stats(); st.Pending != 3 || st.Upload.Stored != 0 {
		t.Fatalf("stats %+v while the cloud is down: want 3 pending, none stored", st)
	}
	w.cloud.set(func(c *memCloud) { c.down = false })
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w.cloud.headers(t)); n != 3 {
		t.Fatalf("the cloud holds %d records after it came back, want 3", n)
	}

	// An abnormal reading's sequence number is durable with its record:
	// replayed after a restart (here, with the periodic save of the others
	// lost too: the reading is abnormal, its number was written with it),
	// it is refused.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g = w.gateway(dir, nil, &sealed)
	defer g.Close()
	if err := g.HandleReading(ctx, last); !errors.Is(err, gateway.ErrReplay) {
		t.Fatalf("an abnormal reading replayed after a restart: %v", err)
	}
	if n := len(w.cloud.headers(t)); n != 3 {
		t.Fatalf("the cloud holds %d records after the replay, want still 3", n)
	}
}

// A device's sequence numbers cannot be poisoned: one signed reading with
// a huge number is refused (it would lock the device out), as is one that
// jumps too far or is older than the backlog allowed; a reboot moves on.
func TestSequenceRules(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	g := w.gateway(t.TempDir(), nil, nil)
	defer g.Close()
	for _, tc := range []struct {
		name string
		seq  uint64
		at   time.Time
		want error
	}{
		{"first of boot 1", reading.SeqOf(1, 1), time.Now(), nil},
		{"the poison number", ^uint64(0), time.Now(), gateway.ErrSeqJump},
		{"a jump within the boot", reading.SeqOf(1, 2+reading.MaxSeqStep), time.Now(), gateway.ErrSeqJump},
		{"the next", reading.SeqOf(1, 2), time.Now(), nil},
		{"a reboot", reading.SeqOf(2, 1), time.Now(), nil},
		{"the earlier boot", reading.SeqOf(1, 3), time.Now(), gateway.ErrReplay},
		{"too many boots skipped", reading.SeqOf(3+reading.MaxBootStep, 1), time.Now(), gateway.ErrSeqJump},
		{"older than the backlog", reading.SeqOf(2, 2), time.Now().Add(-gateway.MaxBacklog - time.Minute), gateway.ErrTooOld},
		{"a day's backlog", reading.SeqOf(2, 3), time.Now().Add(-gateway.MaxBacklog + time.Minute), nil},
	} {
		err := g.HandleReading(ctx, w.readingOf(w.device, w.patient.ID(), tc.seq, tc.at, 100))
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	st := g.Stats()
	if st.Refused["seq_jump"] != 3 || st.Refused["too_old"] != 1 || st.Refused["replay"] != 1 {
		t.Fatalf("refused %v", st.Refused)
	}
	var m strings.Builder
	if err := g.WriteMetrics(&m); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`vitalchain_gateway_readings_refused_total{reason="seq_jump"} 3`,
		`vitalchain_gateway_readings_refused_total{reason="too_old"} 1`,
		"vitalchain_gateway_readings_total 4",
	} {
		if !strings.Contains(m.String(), line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, m.String())
		}
	}
}

// TestCommandsAndRevoke: a provider granted commands has its device command
// relayed, signed by the patient, to the device; after a revoke the
// gateway seals under a new epoch, which survives a restart.
func TestCommandsAndRevoke(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	dir := t.TempDir()
	cmds := make(chan []byte, 4)
	g := w.gateway(dir, func(dev identity.ID, b []byte) error {
		if dev != w.device.Public().ID() {
			t.Errorf("command sent to %s", dev)
		}
		cmds <- b
		return nil
	}, nil)
	// Without a grant, the ledger refuses the provider's command.
	s, err := w.cl.Signer(ctx, w.provider.Signing)
	if err != nil {
		t.Fatal(err)
	}
	dc := &ledger.DeviceCommand{Device: w.device.Public().ID(), Command: command.SamplingInterval, Value: 5000}
	if _, err := s.Submit(ctx, dc); !errors.Is(err, ledger.Rejected(ledger.CodeUnauthorized)) {
		t.Fatalf("a command without a grant: %v", err)
	}
	if err := g.Patient().Grant(ctx, w.provider.ID(), []vital.Kind{vital.Glucose}, true, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(ctx, dc); err != nil {
		t.Fatal(err)
	}
	var b []byte
	select {
	case b = <-cmds:
	case <-ctx.Done():
		t.Fatal("the device command was never relayed")
	}
	c, err := command.Parse(b, w.patient.Signing.Public(), w.device.Public().ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.Command != command.SamplingInterval || c.Value != 5000 || c.Provider != w.provider.ID() {
		t.Fatalf("relayed command %+v", c)
	}
	// The relay counts a command once the device's send returns, so after
	// the channel above has been read.
	waitFor(t, "the relayed command counted", func() bool { return g.Stats().Commands == 1 })
	if st := g.Stats(); st.Commands != 1 || st.CmdRefuse != 0 {
		t.Fatalf("stats %+v: want 1 command relayed", st)
	}

	if err := g.Patient().Revoke(ctx, w.provider.ID()); err != nil {
		t.Fatal(err)
	}
	if g.Patient().Epoch() != 2 {
		t.Fatalf("epoch after revoke %d, want 2", g.Patient().Epoch())
	}
	if err := g.Patient().Revoke(ctx, w.provider.ID()); !errors.Is(err, gateway.ErrNotGranted) {
		t.Fatalf("a second revoke: %v", err)
	}
	if err := g.HandleReading(ctx, w.reading(420)); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	hs := w.cloud.headers(t)
	if len(hs) != 1 || hs[0].Epoch != 2 {
		t.Fatalf("records after the revoke: %+v, want one of epoch 2", hs)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g = w.gateway(dir, nil, nil)
	defer g.Close()
	if g.Patient().Epoch() != 2 {
		t.Fatalf("epoch after restart %d, want 2", g.Patient().Epoch())
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// A record leaves the gateway only once its inclusion in a checkpoint the
// ledger anchors is proven. A cloud that acknowledges and receipts records
// it throws away does not swallow them: they stay held, the receipt's
// deadline passing unproven is an alarm, and they are sent again.
func TestLyingCloudCannotSwallowRecords(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	var mu sync.Mutex
	skew := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
	g := w.gatewayAt(t.TempDir(), nil, nil, now)
	defer g.Close()

	// An honest cloud: stored, then proven, then let go.
	if err := g.HandleReading(ctx, w.reading(250)); err != nil {
		t.Fatal(err)
	}
	if err := g.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := g.Stats(); st.Pending != 0 || st.Held != 0 || st.Proven != 1 || st.ReceiptAlarms != 0 {
		t.Fatalf("stats %+v: want the record proven and let go", st)
	}

	w.cloud.set(func(c *memCloud) { c.liar = true })
	if err := g.HandleReading(ctx, w.reading(260)); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := g.Stats(); st.Pending != 0 || st.Held != 1 {
		t.Fatalf("stats %+v: want the acknowledged record held", st)
	}
	if n := len(w.cloud.headers(t)); n != 1 {
		t.Fatalf("the lying cloud holds %d records, want 1", n)
	}
	// Past the receipt's deadline: an alarm, and the record goes again,
	// now to an honest cloud.
	w.cloud.set(func(c *memCloud) { c.liar = false })
	mu.Lock()
	skew = time.Hour
	mu.Unlock()
	waitFor(t, "the unhonoured receipt's alarm", func() bool { return g.Stats().ReceiptAlarms == 1 })
	if err := g.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w.cloud.headers(t)); n != 2 {
		t.Fatalf("the cloud holds %d records after the resend, want 2", n)
	}
	if st := g.Stats(); st.Held != 0 || st.Proven != 2 {
		t.Fatalf("stats %+v: want both records proven", st)
	}
}

// A reading the outbox cannot take is not lost: it is refused as
// retryable, its device's sequence number and its rule's cool-down do not
// move, and sent again once there is room it is taken whole, alert
// included.
func TestBackpressureLosesNoReading(t *testing.T) {
	w := newMemWorldCooldown(t, 600)
	ctx := w.ctx
	g, err := gateway.New(ctx, gateway.Config{Patient: w.patient, Chain: w.cl, Cloud: w.cloud, Dir: t.TempDir(),
		Outbox:   outbox.Options{MaxItems: 1},
		Uploader: outbox.UploaderOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// Two readings 15 minutes apart, each past the rule's 10-minute
	// cool-down: each alerts.
	w.cloud.set(func(c *memCloud) { c.down = true })
	if err := g.HandleReading(ctx, w.readingOf(w.device, w.patient.ID(), 1, time.Now().Add(-20*time.Minute), 250)); err != nil {
		t.Fatal(err)
	}
	second := w.readingOf(w.device, w.patient.ID(), 2, time.Now().Add(-5*time.Minute), 300)
	err = g.HandleReading(ctx, second)
	if !errors.Is(err, gateway.ErrBackpressure) || !gateway.Retryable(err) {
		t.Fatalf("a reading the full outbox cannot take: %v, want a retryable ErrBackpressure", err)
	}
	if st := g.Stats(); st.Readings != 1 || st.Alerts != 1 {
		t.Fatalf("stats %+v: the refused reading was counted", st)
	}
	w.cloud.set(func(c *memCloud) { c.down = false })
	if err := g.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.HandleReading(ctx, second); err != nil {
		t.Fatalf("the same reading, sent again: %v", err)
	}
	if err := g.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	hs := w.cloud.headers(t)
	if len(hs) != 2 || !hs[0].Alert || !hs[1].Alert {
		t.Fatalf("stored %+v: want two records, both alerts (the retry's alert was not lost to the first one's cool-down)", hs)
	}
	if err := g.HandleReading(ctx, second); !errors.Is(err, gateway.ErrReplay) || gateway.Retryable(err) {
		t.Fatalf("the reading, taken, sent a third time: %v, want a replay", err)
	}
}

// Over MQTT, a reading the gateway cannot take is not acknowledged: the
// device's publish fails with mqtt.ErrBusy, and published again once there
// is room, it is taken.
func TestBackpressureOverMQTT(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	g, err := gateway.New(ctx, gateway.Config{Patient: w.patient, Chain: w.cl, Cloud: w.cloud, Dir: t.TempDir(),
		Outbox:   outbox.Options{MaxItems: 1},
		Uploader: outbox.UploaderOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.SubscribeAck(mqtt.ReadingsFilter(w.patient.ID()), func(topic string, p []byte) bool {
		return !gateway.Retryable(g.HandleMessage(ctx, topic, p))
	}); err != nil {
		t.Fatal(err)
	}
	c, err := mqtt.Connect(ctx, mqtt.ClientConfig{Broker: b.URL(), ClientID: "device"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	topic := mqtt.ReadingsTopic(w.patient.ID(), w.device.Public().ID())
	w.cloud.set(func(c *memCloud) { c.down = true })
	if err := c.Publish(ctx, topic, w.reading(250)); err != nil {
		t.Fatal(err)
	}
	second := w.reading(260)
	if err := c.Publish(ctx, topic, second); !errors.Is(err, mqtt.ErrBusy) {
		t.Fatalf("a reading the full outbox cannot take: %v, want mqtt.ErrBusy", err)
	}
	w.cloud.set(func(c *memCloud) { c.down = false })
	if err := g.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, topic, second); err != nil {
		t.Fatalf("published again: %v", err)
	}
	if err := g.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w.cloud.headers(t)); n != 2 {
		t.Fatalf("the cloud holds %d records, want 2", n)
	}
}

// envelopeLiar answers the patient's envelope queries with an envelope an
// attacker made: a key of its choosing wrapped to the patient's public key,
// which anyone can do.
type envelopeLiar struct {
	*memchain.Chain
	forged []byte
}

func (n *envelopeLiar) Query(ctx context.Context, path string) (uint32, []byte, string, error) {
	if strings.HasPrefix(path, ledger.QueryEnvelope+"/") {
		b, err := codec.Marshal(n.forged)
		return 0, b, "", err
	}
	return n.Chain.Query(ctx, path)
}

// A node that answers the patient's own key envelope with one of an
// attacker's, to read every record the gateway seals, is refused: the
// envelope is not signed by the patient.
func TestForgedSelfEnvelopeRefused(t *testing.T) {
	w := newMemWorld(t)
	g := w.gateway(t.TempDir(), nil, nil) // publishes epoch 1's envelope
	g.Close()
	attacker, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	key, _ := envelope.NewSessionKey()
	evil, err := envelope.Wrap(envelope.SelfContext(w.patient.ID(), 1, w.patient.Decryption.Suite()), key, w.patient.Decryption.Public())
	if err != nil {
		t.Fatal(err)
	}
	evil.Sig = attacker.Signing.SignContext(envelope.SignContext, []byte("anything"))
	forged, err := evil.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	liar := client.New(&envelopeLiar{Chain: w.chain, forged: forged}, nil)
	defer liar.Close()
	_, err = gateway.New(w.ctx, gateway.Config{Patient: w.patient, Chain: liar, Cloud: w.cloud, Dir: t.TempDir()})
	if !errors.Is(err, envelope.ErrSender) {
		t.Fatalf("a gateway given a forged key envelope: %v, want envelope.ErrSender", err)
	}
}

package gateway_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// TestGatewayEndToEnd: a 4-authority chain and a cloud over HTTP (the
// testbed's); a device publishes over MQTT to the gateway's broker. The
// abnormal readings are stored and anchored; a granted provider reads one
// until the patient revokes it; a provider's device command reaches the
// device signed by the patient; a patient who migrates to another cluster
// keeps sending its records to its home cloud.
func TestGatewayEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tc, err := testbed.StartChain(ctx, testbed.ChainOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Stop()
	must := func(id *identity.Identity, err error) *identity.Identity {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	cloudID := must(tc.Register(ctx, identity.RoleCloud, identity.SuiteX25519, 1))
	patient := must(tc.Register(ctx, identity.RolePatient, identity.SuiteX25519, 1))
	prov := must(tc.Register(ctx, identity.RoleProvider, identity.SuiteX25519, 1))
	dev := must(identity.Generate(identity.RoleDevice, identity.SuiteX25519))
	if err := tc.Admit(ctx, dev, 1, patient, nil); err != nil {
		t.Fatal(err)
	}
	terms := contract.Terms{Version: contract.Version, Patient: patient.ID(), Providers: []identity.ID{prov.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: contract.Warning}}, Name: "glucose"}
	dc, err := ledger.NewDeployContract(patient, terms, prov)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Submit(ctx, patient.Signing, dc); err != nil {
		t.Fatal(err)
	}
	cl, err := testbed.StartCloud(ctx, testbed.CloudOptions{Key: cloudID, Dir: t.TempDir(), Clients: tc.Clients(0, 4)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cc := cl.Client().Expect(cloudID.ID())

	srvTLS, err := mqtt.ServerTLS(patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	var g *gateway.Gateway
	ready := make(chan struct{})
	b, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0", TLS: srvTLS, Patient: patient.ID(),
		Authenticate: func(d identity.ID) error { <-ready; return g.Admit(ctx, d) }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	var sealed [][32]byte
	first := func() [32]byte { mu.Lock(); defer mu.Unlock(); return sealed[0] }
	commands := make(chan []byte, 4)
	if err := b.Subscribe(mqtt.CommandsTopic(patient.ID(), dev.ID()), func(_ string, p []byte) { commands <- p }); err != nil {
		t.Fatal(err)
	}
	g, err = gateway.New(ctx, gateway.Config{Patient: patient, Chain: tc.Client(0), Cloud: cc, Dir: t.TempDir(),
		Commands: func(d identity.ID, p []byte) error { return b.Publish(mqtt.CommandsTopic(patient.ID(), d), p) },
		OnSealed: func(_ reading.Reading, id [32]byte) { mu.Lock(); sealed = append(sealed, id); mu.Unlock() },
		Uploader: outbox.UploaderOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	close(ready)
	if err := b.Subscribe(mqtt.ReadingsFilter(patient.ID()), func(topic string, p []byte) {
		if err := g.HandleMessage(ctx, topic, p); err != nil {
			t.Errorf("reading refused: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	devTLS, err := mqtt.ClientTLS(dev.Signing, patient.ID())
	if err != nil {
		t.Fatal(err)
	}
	devConn, err := mqtt.Connect(ctx, mqtt.ClientConfig{Broker: b.URL(), ClientID: dev.ID().Hex(), TLS: devTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer devConn.Close()
	seq := uint64(0)
	publish := func(mgdl int64) {
		t.Helper()
		seq++
		msg, err := reading.Sign(reading.New(patient.ID(), dev.ID(), seq, time.Now(), vital.Glucose, vital.Quantity(mgdl*1000)), dev.Signing)
		if err != nil {
			t.Fatal(err)
		}
		// Acknowledged once the gateway has handled it.
		if err := devConn.Publish(ctx, mqtt.ReadingsTopic(patient.ID(), dev.ID()), msg); err != nil {
			t.Fatal(err)
		}
	}
	stored := func(want uint64) {
		t.Helper()
		if err := g.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if rc, _, _, _ := cl.Service.Checkpoints(); rc.Size != want {
			t.Fatalf("the cloud holds %d records, want %d", rc.Size, want)
		}
	}

	for _, v := range []int64{100, 250, 110, 60} {
		publish(v)
	}
	stored(2)
	for {
		if rc, ra, _, _ := cl.Service.Checkpoints(); ra.Size == rc.Size {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the records were never anchored")
		case <-time.After(50 * time.Millisecond):
		}
	}

	// A grant with commands: the provider reads, and commands the device.
	if err := g.Patient().Grant(ctx, prov.ID(), []vital.Kind{vital.Glucose}, true, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if res, err := cc.Read(ctx, prov.Signing, first()); err != nil || !res.Anchored {
		t.Fatalf("the granted provider's read: %+v %v", res, err)
	}
	if _, err := tc.Submit(ctx, prov.Signing, &ledger.DeviceCommand{Device: dev.ID(), Command: command.SamplingInterval, Value: 5000}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-commands:
		c, err := command.Parse(p, patient.Signing.Public(), dev.ID())
		if err != nil || c.Value != 5000 || c.Provider != prov.ID() {
			t.Fatalf("the device got %+v, %v", c, err)
		}
	case <-ctx.Done():
		t.Fatal("the device command never reached the device")
	}

	// Revoked: the provider's next read is refused; the patient's is not.
	if err := g.Patient().Revoke(ctx, prov.ID()); err != nil {
		t.Fatal(err)
	}
	var re *cloudapi.RequestError
	if _, err := cc.Read(ctx, prov.Signing, first()); !errors.As(err, &re) || re.Code != cloudapi.CodeRevoked {
		t.Fatalf("the revoked provider's read: %v", err)
	}
	if _, err := cc.Read(ctx, patient.Signing, first()); err != nil {
		t.Fatalf("the patient's own read: %v", err)
	}

	// The patient moves to cluster 2 with its device; its records still go
	// to its home cluster's cloud.
	if err := g.Patient().Migrate(ctx, 2, []identity.ID{dev.ID()}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []identity.ID{patient.ID(), dev.ID()} {
		if m, err := tc.Client(0).Member(ctx, id); err != nil || m.Cluster != 2 || m.Home != 1 {
			t.Fatalf("member %s after migrating: %+v %v", id, m, err)
		}
	}
	if err := g.Patient().Migrate(ctx, 2, nil); !errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
		t.Fatalf("migrating to the cluster it is in: %v", err)
	}
	publish(320)
	stored(3)
}

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/mosquittotest"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/pki"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// TestGatewayThroughMosquitto runs a `vitalchain-gateway` process against
// a real Mosquitto, configured as the README tells an operator: TLS with
// certificates of the deployment's CA, a client certificate per device
// (its common name the device's ID: its user), no anonymous client, and an
// ACL giving each device its own topics only. A device's abnormal readings
// reach the gateway through the broker and are sealed, uploaded and stored
// in the cloud; a provider's device command reaches the device through the
// broker; a device cannot publish as another, nor subscribe to others'
// topics; a client without a certificate gets nothing.
func TestGatewayThroughMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ledger, a cloud, mosquitto and a gateway process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tc, err := testbed.StartChain(ctx, testbed.ChainOptions{Nodes: 1, Dir: filepath.Join(dir, "chain")})
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
	devA := must(identity.Generate(identity.RoleDevice, identity.SuiteX25519))
	devB := must(identity.Generate(identity.RoleDevice, identity.SuiteX25519))
	for _, d := range []*identity.Identity{devA, devB} {
		if err := tc.Admit(ctx, d, 1, patient, nil); err != nil {
			t.Fatal(err)
		}
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
	cl, err := testbed.StartCloud(ctx, testbed.CloudOptions{Key: cloudID, Dir: filepath.Join(dir, "cloud"), Clients: tc.Clients(0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	broker := mosquittotest.Start(t, mosquittotest.ACL(patient.ID(), []identity.ID{devA.ID(), devB.ID()}))
	gwCert, gwKey := broker.ClientCert(t, patient.ID().Hex())
	keyFile := filepath.Join(dir, "patient.key")
	if err := identity.WriteFile(keyFile, patient); err != nil {
		t.Fatal(err)
	}
	probes := freeAddr(t)
	gw := exec.Command("vitalchain-gateway", "--key", keyFile, "--data", filepath.Join(dir, "gw"), "--metrics", probes,
		"--ledger", tc.Net.Testnet.RPC[0], "--cloud", cl.URL, "--broker", broker.URL,
		"--broker-ca", broker.CAFile, "--broker-cert", gwCert, "--broker-key", gwKey, "--log-level", "warn")
	stdout, _ := gw.StdoutPipe()
	logf, _ := os.Create(filepath.Join(dir, "gateway.log"))
	defer logf.Close()
	gw.Stderr = logf
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "gateway of patient") {
				started <- sc.Text()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { gw.Wait(); close(exited) }()
	defer func() { gw.Process.Kill(); <-exited }()
	select {
	case line := <-started:
		t.Log(line)
	case <-exited:
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("the gateway exited: %v\n%s\nmosquitto: %s", gw.ProcessState, b, broker.Log())
	case <-ctx.Done():
		t.Fatal("the gateway never connected")
	}

	// The gateway is live, and ready: its broker, ledger and cloud answer.
	if code, body := get(t, "http://"+probes+"/livez"); code != 200 {
		t.Fatalf("/livez: %d %s", code, body)
	}
	if code, body := get(t, "http://"+probes+"/readyz"); code != 200 || body != "ok broker\nok ledger\nok cloud\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}

	// A device connects with its own certificate, trusting the CA.
	type message struct {
		topic   string
		payload []byte
	}
	connect := func(dev *identity.Identity, subs ...string) (*mqtt.Client, <-chan message, error) {
		cert, key := broker.ClientCert(t, dev.ID().Hex())
		cfg, err := pki.ClientCertConfig(broker.CAFile, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan message, 16)
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		defer ccancel()
		mc := mqtt.ClientConfig{Broker: broker.URL, ClientID: dev.ID().Hex(), TLS: cfg, Subscriptions: subs}
		if len(subs) > 0 {
			mc.Handler = func(topic string, p []byte) { got <- message{topic, p} }
		}
		c, err := mqtt.Connect(cctx, mc)
		return c, got, err
	}
	a, commands, err := connect(devA, mqtt.CommandsTopic(patient.ID(), devA.ID()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	seq := uint64(0)
	sign := func(dev *identity.Identity, mgdl int64) []byte {
		seq++
		msg, err := reading.Sign(reading.New(patient.ID(), dev.ID(), seq, time.Now(), vital.Glucose, vital.Quantity(mgdl*1000)), dev.Signing)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	for _, v := range []int64{100, 250, 110, 60} {
		if err := a.Publish(ctx, mqtt.ReadingsTopic(patient.ID(), devA.ID()), sign(devA, v)); err != nil {
			t.Fatal(err)
		}
	}
	// The two abnormal ones are sealed by the gateway and stored.
	waitFor(t, ctx, "the two abnormal readings stored in the cloud", func() bool {
		rc, _, _, _ := cl.Service.Checkpoints()
		return rc.Size == 2
	})

	// Device B subscribes to A's commands and to everything: the broker
	// takes the subscriptions (Mosquitto 2 checks reads per message) but
	// passes B none of A's messages.
	b, bGot, err := connect(devB, mqtt.CommandsTopic(patient.ID(), devA.ID()), "#")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// A provider's device commands reach devices A and B through the
	// broker, signed by the patient, each device its own only.
	p, err := gateway.OpenPatient(ctx, patient, tc.Client(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Grant(ctx, prov.ID(), []vital.Kind{vital.Glucose}, true, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*identity.Identity{devA, devB} {
		if _, err := tc.Submit(ctx, prov.Signing, &ledger.DeviceCommand{Device: d.ID(), Command: command.SamplingInterval, Value: 5000}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dev *identity.Identity
		got <-chan message
	}{{devA, commands}, {devB, bGot}} {
		select {
		case m := <-tc.got:
			if m.topic != mqtt.CommandsTopic(patient.ID(), tc.dev.ID()) {
				t.Fatalf("device %s got a message on %s", tc.dev.ID(), m.topic)
			}
			c, err := command.Parse(m.payload, patient.Signing.Public(), tc.dev.ID())
			if err != nil || c.Value != 5000 || c.Provider != prov.ID() {
				t.Fatalf("device %s got %+v, %v", tc.dev.ID(), c, err)
			}
		case <-ctx.Done():
			t.Fatalf("the device command never reached device %s", tc.dev.ID())
		}
	}

	// Device B may not publish as device A: the broker refuses, and nothing
	// reaches a reader of the patient's readings but B's own reading, sent
	// after (one publisher's messages arrive in order).
	watchCert, watchKey := broker.ClientCert(t, patient.ID().Hex())
	wcfg, err := pki.ClientCertConfig(broker.CAFile, watchCert, watchKey)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	watcher, err := mqtt.Connect(ctx, mqtt.ClientConfig{Broker: broker.URL, ClientID: "watcher", TLS: wcfg,
		Subscriptions: []string{mqtt.ReadingsFilter(patient.ID())}, Handler: func(topic string, _ []byte) { seen <- topic }})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	forged := b.Publish(ctx, mqtt.ReadingsTopic(patient.ID(), devA.ID()), sign(devA, 300))
	if !errors.Is(forged, mqtt.ErrRefused) {
		t.Fatalf("device B publishing as device A: %v, want a refusal", forged)
	}
	if err := b.Publish(ctx, mqtt.ReadingsTopic(patient.ID(), devB.ID()), sign(devB, 100)); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-seen:
		if topic != mqtt.ReadingsTopic(patient.ID(), devB.ID()) {
			t.Fatalf("the broker passed on a reading on %s from device B", topic)
		}
	case <-ctx.Done():
		t.Fatal("device B's own reading never arrived")
	}

	// A client without a certificate does not get past TLS.
	pool, err := pki.Pool(broker.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(broker.URL, "mqtts://"), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err == nil {
		// TLS 1.3: the server's refusal of a client without a certificate
		// comes after the client's side of the handshake.
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte{0x10, 0x00}) // the start of a CONNECT
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an anonymous client: %v, want a refusal of its missing certificate", err)
	}
	t.Logf("an anonymous client: %v", err)

	// Without its cloud the gateway lives but is not ready.
	cl.Close()
	if code, body := get(t, "http://"+probes+"/readyz"); code != 503 || !strings.Contains(body, "fail cloud") || !strings.Contains(body, "ok broker") {
		t.Fatalf("/readyz without the cloud: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+probes+"/livez"); code != 200 {
		t.Fatalf("/livez without the cloud: %d", code)
	}
}

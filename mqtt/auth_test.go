package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// An authenticating broker of one patient with two registered devices.
type authWorld struct {
	b               *Broker
	patient         *identity.SigningKey
	devA, devB      *identity.SigningKey
	inbox           *inbox
	registered      map[identity.ID]bool
	stranger, other *identity.SigningKey
}

func newAuthWorld(t *testing.T) *authWorld {
	t.Helper()
	w := &authWorld{inbox: newInbox(), registered: map[identity.ID]bool{}}
	w.patient, _ = identity.GenerateSigningKey(identity.RolePatient)
	w.other, _ = identity.GenerateSigningKey(identity.RolePatient)
	w.devA, _ = identity.GenerateSigningKey(identity.RoleDevice)
	w.devB, _ = identity.GenerateSigningKey(identity.RoleDevice)
	w.stranger, _ = identity.GenerateSigningKey(identity.RoleDevice)
	w.registered[w.devA.Public().ID()] = true
	w.registered[w.devB.Public().ID()] = true
	srvTLS, err := ServerTLS(w.patient)
	if err != nil {
		t.Fatal(err)
	}
	w.b = startBroker(t, BrokerConfig{TLS: srvTLS, Patient: w.patient.Public().ID(), Authenticate: func(id identity.ID) error {
		if !w.registered[id] {
			return errors.New("not a registered device of this patient")
		}
		return nil
	}})
	if err := w.b.Subscribe(ReadingsFilter(w.patient.Public().ID()), w.inbox.handle); err != nil {
		t.Fatal(err)
	}
	return w
}

// connect connects as key (pinning the patient's key), with client ID id.
func (w *authWorld) connect(t *testing.T, key *identity.SigningKey, id string, pin identity.ID, subs ...string) (*Client, error) {
	t.Helper()
	cfg, err := ClientTLS(key, pin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	h := func(string, []byte) {}
	if len(subs) == 0 {
		h = nil
	}
	c, err := Connect(ctx, ClientConfig{Broker: w.b.URL(), ClientID: id, TLS: cfg, Subscriptions: subs, Handler: h})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// Only registered devices connect, over TLS, with their key as client ID;
// each publishes only its own readings and subscribes only to its own
// commands; a device refuses a server that is not its patient's gateway.
func TestBrokerAuthenticatesDevices(t *testing.T) {
	w := newAuthWorld(t)
	pid := w.patient.Public().ID()
	a := w.devA.Public().ID()
	b := w.devB.Public().ID()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()

	ca, err := w.connect(t, w.devA, a.Hex(), w.patient.Public().ID(), CommandsTopic(pid, a))
	if err != nil {
		t.Fatalf("a registered device: %v", err)
	}
	if err := ca.Publish(ctx, ReadingsTopic(pid, a), []byte("mine")); err != nil {
		t.Fatalf("its own readings: %v", err)
	}
	if m := w.inbox.next(t); m.payload != "mine" {
		t.Fatalf("got %q", m.payload)
	}
	if err := ca.Publish(ctx, ReadingsTopic(pid, b), []byte("B's")); !errors.Is(err, ErrRefused) {
		t.Fatalf("publishing as another device: %v, want refused", err)
	}
	if err := ca.Publish(ctx, CommandsTopic(pid, a), []byte("a command")); !errors.Is(err, ErrRefused) {
		t.Fatalf("publishing a command: %v, want refused", err)
	}
	for name, tc := range map[string]struct {
		key  *identity.SigningKey
		id   string
		pin  identity.ID
		subs []string
	}{
		"an unregistered key":                 {w.stranger, w.stranger.Public().ID().Hex(), w.patient.Public().ID(), nil},
		"a client ID not its key's":           {w.devB, a.Hex(), w.patient.Public().ID(), nil},
		"another device's commands":           {w.devB, b.Hex(), w.patient.Public().ID(), []string{CommandsTopic(pid, a)}},
		"every topic":                         {w.devB, b.Hex(), w.patient.Public().ID(), []string{"vitalchain/#"}},
		"a gateway that is not its patient's": {w.devB, b.Hex(), w.other.Public().ID(), nil},
	} {
		if _, err := w.connect(t, tc.key, tc.id, tc.pin, tc.subs...); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
	// Anonymous: no certificate, no connection.
	anon := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	actx, acancel := context.WithTimeout(ctx, 3*time.Second)
	defer acancel()
	if c, err := Connect(actx, ClientConfig{Broker: w.b.URL(), ClientID: "anyone", TLS: anon, Subscriptions: []string{"#"}, Handler: func(string, []byte) {}}); err == nil {
		c.Close()
		t.Fatal("an anonymous client connected")
	}
	if st := w.b.Stats(); st.Refused == 0 || st.Denied < 2 {
		t.Fatalf("stats %+v: want refusals and denials counted", st)
	}
}

// From outside, with mosquitto's clients: an anonymous subscriber to every
// topic receives nothing, and an anonymous publisher is refused.
func TestBrokerRefusesMosquittoClients(t *testing.T) {
	if _, err := exec.LookPath("mosquitto_sub"); err != nil {
		t.Fatal("mosquitto_sub is not installed (package mosquitto-clients; ./test.sh installs it)")
	}
	w := newAuthWorld(t)
	host, port, _ := strings.Cut(strings.TrimPrefix(w.b.URL(), "mqtts://"), ":")
	sub := exec.Command("mosquitto_sub", "-h", host, "-p", port, "-t", "#", "-C", "1", "-W", "3", "--insecure", "--cafile", "/etc/ssl/certs/ca-certificates.crt")
	out, err := sub.CombinedOutput()
	if err == nil {
		t.Fatalf("mosquitto_sub -t '#' succeeded: %s", out)
	}
	pub := exec.Command("mosquitto_pub", "-h", host, "-p", port, "-t", ReadingsTopic(w.patient.Public().ID(), w.devA.Public().ID()),
		"-m", "forged", "--insecure", "--cafile", "/etc/ssl/certs/ca-certificates.crt", "-q", "1")
	if out, err := pub.CombinedOutput(); err == nil {
		t.Fatalf("mosquitto_pub succeeded: %s", out)
	}
	select {
	case m := <-w.inbox.ch:
		t.Fatalf("the broker took %q from an anonymous client", m.payload)
	case <-time.After(200 * time.Millisecond):
	}
}

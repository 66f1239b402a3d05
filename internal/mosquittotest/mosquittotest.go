// Package mosquittotest starts a Mosquitto broker of a test's own, on a
// free loopback port, configured as the README's Deploying section tells an
// operator to configure an external broker for VitalChain: TLS only, with a
// server certificate of a CA of the test's (package pki), every client
// authenticated by a client certificate of that CA whose common name is its
// user, no anonymous client, and an ACL that lets each user use only its
// own topics (ACL).
//
// Without the mosquitto server on the PATH (or in /usr/sbin) the test is
// skipped, saying why; with VITALCHAIN_TEST_MOSQUITTO=1 (./test.sh sets it,
// after installing Debian's mosquitto if missing) it fails instead, so that
// the project's test command never passes without running it.
package mosquittotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/pki"
)

// EnvRequire, set to 1, makes a missing mosquitto fail the test.
const EnvRequire = "VITALCHAIN_TEST_MOSQUITTO"

// ACL returns the lines of a Mosquitto acl_file that let a patient's
// gateway (the user named by the patient's ID in hex) read its devices'
// readings and write their commands, and each device (the user named by
// its ID) write only its own readings and read only its own commands.
func ACL(patient identity.ID, devices []identity.ID) string {
	var b strings.Builder
	fmt.Fprintf(&b, "user %s\ntopic read %s\n", patient.Hex(), mqtt.ReadingsFilter(patient))
	fmt.Fprintf(&b, "topic write vitalchain/%s/%s/+\n\n", patient.Hex(), mqtt.KindCommands)
	for _, d := range devices {
		fmt.Fprintf(&b, "user %s\ntopic write %s\ntopic read %s\n\n", d.Hex(), mqtt.ReadingsTopic(patient, d), mqtt.CommandsTopic(patient, d))
	}
	return b.String()
}

// Config returns the mosquitto.conf of a TLS listener on port that
// authenticates clients by certificates of the CA in caFile.
func Config(port int, dir, caFile, certFile, keyFile, aclFile, runAs string) string {
	return fmt.Sprintf(`# VitalChain's external broker: TLS, a client certificate per device, an ACL.
per_listener_settings false
allow_anonymous false
persistence false
user %s
log_dest file %s
log_type error
log_type warning
log_type notice
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
acl_file %s
`, runAs, filepath.Join(dir, "mosquitto.log"), port, caFile, certFile, keyFile, aclFile)
}

// Broker is a running mosquitto.
type Broker struct {
	URL    string // mqtts://127.0.0.1:port
	CAFile string // the CA's certificate, which clients trust
	Dir    string
	ca     *pki.CA
}

// Start starts mosquitto with acl (ACL's lines) and stops it when t ends.
func Start(t testing.TB, acl string) *Broker {
	t.Helper()
	bin := find()
	if bin == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal("mosquitto (the server) is not installed: apt-get install mosquitto (./test.sh does)")
		}
		t.Skip("mosquitto (the server) is not installed; ./test.sh installs it")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.New("mosquitto test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := ca.IssueFiles(cert, key, []string{"127.0.0.1", "localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclFile, []byte(acl), 0o644); err != nil {
		t.Fatal(err)
	}
	runAs := "mosquitto"
	if u, err := user.Current(); err == nil {
		runAs = u.Username
	}
	port := freePort(t)
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(Config(port, dir, filepath.Join(dir, pki.CertFile), cert, key, aclFile, runAs)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	var once sync.Once
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		once.Do(func() { cmd.Process.Kill(); <-done })
	}
	t.Cleanup(stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "mosquitto.log"))
			t.Fatalf("mosquitto exited: %v\n%s%s", cmd.ProcessState, out.Bytes(), log)
		case <-time.After(50 * time.Millisecond): // poll interval
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto does not listen on %s: %v", addr, err)
		}
	}
	return &Broker{URL: "mqtts://" + addr, CAFile: filepath.Join(dir, pki.CertFile), Dir: dir, ca: ca}
}

// ClientCert issues a client certificate whose common name is name into
// the broker's directory, and returns its files.
func (b *Broker) ClientCert(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	c, k, err := b.ca.IssueClient(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(b.Dir, name+".pem"), filepath.Join(b.Dir, name+"-key.pem")
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, c, 0o644); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Log returns what mosquitto logged so far.
func (b *Broker) Log() string {
	log, _ := os.ReadFile(filepath.Join(b.Dir, "mosquitto.log"))
	return string(log)
}

func find() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

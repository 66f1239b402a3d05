package pki_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/pki"
)

// A server with a certificate the CA issued is trusted by a client of the
// CA, and by no client of another CA, nor by one that trusts the system's
// roots.
func TestIssuedCertificateIsTrustedByItsCAOnly(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.New("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := pki.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv-key.pem")
	if err := loaded.IssueFiles(certFile, keyFile, []string{"127.0.0.1", "localhost"}, now); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	get := func(cfg *tls.Config) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
		resp, err := c.Get(srv.URL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "ok" {
			t.Errorf("body %q", b)
		}
		return nil
	}
	good, err := pki.ClientConfig(filepath.Join(dir, pki.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := get(good); err != nil {
		t.Fatalf("a client of the CA: %v", err)
	}
	other, _ := pki.New("another CA", now)
	otherDir := t.TempDir()
	if err := other.WriteFiles(otherDir); err != nil {
		t.Fatal(err)
	}
	bad, err := pki.ClientConfig(filepath.Join(otherDir, pki.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := get(bad); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client of another CA: %v, want a certificate error", err)
	}
	system, _ := pki.ClientConfig("")
	if err := get(system); err == nil {
		t.Fatal("a client of the system's roots trusted the private CA")
	}
}

func TestRequireTLS(t *testing.T) {
	for _, tc := range []struct {
		addr      string
		tls, insc bool
		ok        bool
	}{
		{"127.0.0.1:8420", false, false, true},
		{"[::1]:8420", false, false, true},
		{"localhost:8420", false, false, true},
		{"127.0.0.2:8420", false, false, true},
		{"0.0.0.0:8420", false, false, false},
		{":8420", false, false, false},
		{"[::]:8420", false, false, false},
		{"10.0.0.5:8420", false, false, false},
		{"10.0.0.5:8420", true, false, true},
		{"10.0.0.5:8420", false, true, true},
		{"cloud.example:8420", false, false, false},
	} {
		err := pki.RequireTLS(tc.addr, tc.tls, tc.insc)
		if (err == nil) != tc.ok {
			t.Errorf("RequireTLS(%q, tls=%v, insecure=%v) = %v, want ok=%v", tc.addr, tc.tls, tc.insc, err, tc.ok)
		}
		if err != nil && !errors.Is(err, pki.ErrPlaintext) {
			t.Errorf("%q: %v is not ErrPlaintext", tc.addr, err)
		}
	}
}

func TestPoolRefusesAFileWithoutCertificates(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.pem")
	if err := writeFile(f, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Pool(f); !errors.Is(err, pki.ErrNoCert) {
		t.Fatalf("got %v, want ErrNoCert", err)
	}
}

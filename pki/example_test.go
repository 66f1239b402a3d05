package pki_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vitalchain/vitalchain/pki"
)

func writeFile(name, s string) error { return os.WriteFile(name, []byte(s), 0o600) }

// A deployment makes its CA once, issues each server a certificate for the
// addresses it answers on, and hands clients the CA's certificate.
func Example() {
	dir, _ := os.MkdirTemp("", "pki")
	defer os.RemoveAll(dir)
	ca, err := pki.New("hospital testnet CA", time.Now())
	if err != nil {
		panic(err)
	}
	if err := ca.WriteFiles(dir); err != nil {
		panic(err)
	}
	err = ca.IssueFiles(filepath.Join(dir, "cloud.pem"), filepath.Join(dir, "cloud-key.pem"), []string{"10.0.0.5", "cloud.hospital.example"}, time.Now())
	fmt.Println(err)
	_, err = pki.ClientConfig(filepath.Join(dir, pki.CertFile))
	fmt.Println(err)
	fmt.Println(pki.RequireTLS("10.0.0.5:8420", false, false))
	fmt.Println(pki.RequireTLS("127.0.0.1:8420", false, false))
	// Output:
	// <nil>
	// <nil>
	// plain HTTP on a non-loopback address: 10.0.0.5:8420 needs a certificate (or the explicit choice of plain HTTP)
	// <nil>
}

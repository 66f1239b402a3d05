// Package pki is a deployment's private certificate authority for the TLS
// of its servers: the ledger nodes' RPC and the clouds' API. A CA is an
// ECDSA P-256 key and a self-signed certificate; it issues server
// certificates for the host names and addresses a server answers on, and
// clients trust the CA's certificate alone (Pool, ClientConfig).
//
// Servers serve TLS by default on any address that is not a loopback one:
// RequireTLS is the check each server makes at start. The keys of the
// ledger's members are not involved: TLS protects the channel (a reader of
// the network learns nothing, an on-path attacker can change nothing), and
// every answer that drives a decision is still checked on its own
// (signatures, proofs, IDs that are hashes of keys).
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files a CA directory holds (WriteFiles, Load).
const (
	CertFile = "ca.pem"     // the CA's certificate: what clients trust
	KeyFile  = "ca-key.pem" // the CA's private key (mode 0600)
)

// Lifetimes of what a CA makes.
const (
	CALife     = 10 * 365 * 24 * time.Hour
	ServerLife = 2 * 365 * 24 * time.Hour
)

var (
	// ErrPlaintext: a server asked to listen on an address that is not a
	// loopback one without TLS.
	ErrPlaintext = errors.New("plain HTTP on a non-loopback address")
	// ErrNoCert: a PEM file holds no certificate, or no key.
	ErrNoCert = errors.New("no certificate in file")
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// New makes a CA named name, valid from now for CALife.
func New(name string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"VitalChain"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALife),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, der: der}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// CertPEM returns the CA's certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})
}

// Issue returns a server certificate and its key, in PEM, for hosts: IP
// addresses and DNS names, valid from now for ServerLife.
func (ca *CA) Issue(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("pki: a server certificate needs a host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"VitalChain"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: server certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// IssueClient returns a client certificate and its key, in PEM, whose
// subject's common name is name, valid from now for ServerLife: what a
// device or a gateway shows an external MQTT broker that maps the
// certificate's name to a user (Mosquitto's use_identity_as_username).
func (ca *CA) IssueClient(name string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("pki: a client certificate needs a name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"VitalChain"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: client certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// ClientCertConfig returns the TLS configuration of a client that shows
// the certificate of certFile and keyFile and trusts the CA certificates of
// caFile alone (an empty caFile: the system's roots). TLS 1.2 or later:
// brokers differ in what they offer.
func ClientCertConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg, err := ClientConfig(caFile)
	if err != nil {
		return nil, err
	}
	cfg.MinVersion = tls.VersionTLS12
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// IssueFiles issues a certificate for hosts and writes it and its key to
// certFile and keyFile (the key with mode 0600).
func (ca *CA) IssueFiles(certFile, keyFile string, hosts []string, now time.Time) error {
	c, k, err := ca.Issue(hosts, now)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, c, 0o644)
}

// WriteFiles writes the CA's certificate and key into dir (CertFile,
// KeyFile).
func (ca *CA) WriteFiles(dir string) error {
	kder, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, CertFile), ca.CertPEM(), 0o644)
}

// Load reads the CA that WriteFiles wrote into dir.
func Load(dir string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("pki: %s: not an ECDSA key", filepath.Join(dir, KeyFile))
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, der: pair.Certificate[0]}, nil
}

// Pool reads the certificates of a PEM file (a CA's CertFile) into a pool
// for clients to trust.
func Pool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("pki: %s: %w", file, ErrNoCert)
	}
	return p, nil
}

// ClientConfig returns the TLS configuration of a client that trusts the
// CA certificates of caFile alone (TLS 1.3). An empty caFile trusts the
// system's roots.
func ClientConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if caFile == "" {
		return cfg, nil
	}
	p, err := Pool(caFile)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = p
	return cfg, nil
}

// IsLoopback reports whether a listen address (host:port) accepts
// connections from this machine only: a loopback IP or "localhost". An
// empty host, or an unspecified address such as 0.0.0.0, listens on every
// interface and is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequireTLS is the check a server makes before it listens on addr: plain
// HTTP is allowed on a loopback address, or elsewhere only when the
// operator asked for it explicitly (insecure), for a network that is
// protected otherwise.
func RequireTLS(addr string, tls, insecure bool) error {
	if tls || insecure || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("%w: %s needs a certificate (or the explicit choice of plain HTTP)", ErrPlaintext, addr)
}

package mqtt

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// Errors of authentication.
var (
	// ErrNotAuthenticated: a client without a certificate, or with one whose
	// key is not one the broker admits.
	ErrNotAuthenticated = errors.New("mqtt client not authenticated")
	// ErrWrongServer: a server whose certificate is not the patient's key.
	ErrWrongServer = errors.New("mqtt server is not the patient's gateway")
)

// Certificate returns a self-signed TLS certificate of an Ed25519 key: a
// device's, to authenticate to its gateway's broker, or the patient's, for
// the broker to show its devices. The key is the credential; the
// certificate only carries it (its names and dates are not checked).
func Certificate(key *identity.SigningKey) (tls.Certificate, error) {
	priv := ed25519.NewKeyFromSeed(key.Seed())
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: key.Public().ID().Hex()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(100, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("mqtt: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// PeerKey returns the key of the server a client connected to over TLS (the
// patient's, for a device: ClientTLS checked its ID).
func PeerKey(cs tls.ConnectionState) (identity.VerifyingKey, error) {
	return peerKey(cs.PeerCertificates, identity.RolePatient)
}

// peerKey returns the Ed25519 key of a TLS peer's certificate, with role.
func peerKey(certs []*x509.Certificate, role identity.Role) (identity.VerifyingKey, error) {
	if len(certs) == 0 {
		return identity.VerifyingKey{}, fmt.Errorf("%w: no certificate", ErrNotAuthenticated)
	}
	pub, ok := certs[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return identity.VerifyingKey{}, fmt.Errorf("%w: not an Ed25519 certificate", ErrNotAuthenticated)
	}
	return identity.NewVerifyingKey(role, pub)
}

// ServerTLS returns the TLS configuration of a patient's gateway's broker:
// its certificate carries the patient's key, which the devices pin, and it
// asks every client for a certificate (any: the broker's Authenticate
// decides whose key it admits).
func ServerTLS(patient *identity.SigningKey) (*tls.Config, error) {
	cert, err := Certificate(patient)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}, nil
}

// ClientTLS returns the TLS configuration of a device: its certificate
// carries its key, and it accepts only a server whose certificate carries
// its patient's key: the key whose ID is patient (an ID is the hash of its
// key), whose signature the device's commands bear.
func ClientTLS(device *identity.SigningKey, patient identity.ID) (*tls.Config, error) {
	cert, err := Certificate(device)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // no CA: the server's key is pinned below
		VerifyConnection: func(cs tls.ConnectionState) error {
			k, err := peerKey(cs.PeerCertificates, identity.RolePatient)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrWrongServer, err)
			}
			if k.ID() != patient {
				return fmt.Errorf("%w: its key is %s's, not %s's", ErrWrongServer, k.ID(), patient)
			}
			return nil
		},
	}, nil
}

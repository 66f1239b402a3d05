package record_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/hdevalence/ed25519consensus"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/record"
)

// The baselines run the raw primitives a record costs on the same sizes: a
// 256-byte plaintext under AES-256-GCM, an Ed25519 signature over a header's
// worth of bytes (with its context prefix), SHA-256 of the ciphertext. The
// ratio of each benchmark to its baseline is this package's overhead.

const benchPlaintext = 256

type benchEnv struct {
	a      *actors
	sk     *identity.SigningKey
	r      *record.Record
	raw    []byte
	pt     []byte
	gcm    cipher.AEAD
	nonce  []byte
	signed []byte // what the signature covers
}

func setupBench(b *testing.B) *benchEnv {
	a := testActors(b, identity.SuiteX25519)
	key := testKey(b)
	pt := make([]byte, benchPlaintext)
	r := mustSeal(b, gatewayHeader(a.patient.ID(), 1), key, pt, a.patient.Signing)
	raw, err := r.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		b.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	signed := append([]byte("vitalchain/"+record.SignContext+"\x00"), r.HeaderBytes...)
	return &benchEnv{a: a, sk: a.patient.Signing, r: r, raw: raw, pt: pt, gcm: gcm, nonce: make([]byte, 12), signed: signed}
}

func BenchmarkSeal(b *testing.B) {
	e := setupBench(b)
	key := testKey(b)
	h := gatewayHeader(e.a.patient.ID(), 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := record.Seal(h, key, pl(e.pt), e.sk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineSeal is AES-256-GCM seal of 256 bytes plus an Ed25519
// signature of a header.
func BenchmarkBaselineSeal(b *testing.B) {
	e := setupBench(b)
	priv := ed25519.NewKeyFromSeed(e.sk.Seed())
	ad := e.r.HeaderBytes
	b.ReportAllocs()
	for b.Loop() {
		e.gcm.Seal(nil, e.nonce, e.pt, ad)
		ed25519.Sign(priv, e.signed)
	}
}

// BenchmarkOpen is a reader's decryption of a record it has parsed: it
// hashes the ciphertext, expands the key and opens it. (The header was
// decoded by ParseRecord; a record built by hand decodes it here, about
// 1 µs more.)
func BenchmarkOpen(b *testing.B) {
	e := setupBench(b)
	key := testKey(b)
	sealed := mustSeal(b, gatewayHeader(e.a.patient.ID(), 1), key, e.pt, e.sk)
	raw, err := sealed.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	r, err := record.ParseRecord(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Open(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineAESGCMOpen is AES-256-GCM open of 256 bytes.
func BenchmarkBaselineAESGCMOpen(b *testing.B) {
	e := setupBench(b)
	ad := e.r.HeaderBytes
	ct := e.gcm.Seal(nil, e.nonce, e.pt, ad)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.gcm.Open(nil, e.nonce, ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the cloud's check of an upload: parse, decode the
// header, look up the author, verify the signature, hash the ciphertext.
func BenchmarkVerify(b *testing.B) {
	e := setupBench(b)
	pub := e.sk.Public()
	lookup := func(identity.ID) (identity.VerifyingKey, error) { return pub, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := record.Verify(e.raw, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineVerify is an Ed25519 (ZIP-215) verification of a header
// plus SHA-256 of the ciphertext.
func BenchmarkBaselineVerify(b *testing.B) {
	e := setupBench(b)
	pub := e.sk.Public().Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519consensus.Verify(pub, e.signed, e.r.Signature) {
			b.Fatal("bad signature")
		}
		sha256.Sum256(e.r.Ciphertext)
	}
}

// BenchmarkVerifyOpen is a provider's path from fetched bytes to plaintext.
func BenchmarkVerifyOpen(b *testing.B) {
	e := setupBench(b)
	key := testKey(b)
	r := mustSeal(b, gatewayHeader(e.a.patient.ID(), 1), key, e.pt, e.sk)
	raw, err := r.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	pub := e.sk.Public()
	b.ReportAllocs()
	for b.Loop() {
		r, err := record.ParseRecord(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Verify(pub); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Open(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineVerifyOpen is BenchmarkBaselineVerify plus AES-256-GCM
// open of 256 bytes.
func BenchmarkBaselineVerifyOpen(b *testing.B) {
	e := setupBench(b)
	pub := e.sk.Public().Bytes()
	ad := e.r.HeaderBytes
	ct := e.gcm.Seal(nil, e.nonce, e.pt, ad)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519consensus.Verify(pub, e.signed, e.r.Signature) {
			b.Fatal("bad signature")
		}
		sha256.Sum256(ct)
		if _, err := e.gcm.Open(nil, e.nonce, ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

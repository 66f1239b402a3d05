package envelope_test

import (
	"crypto/hpke"
	"testing"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// The baselines are crypto/hpke's single-shot Seal and Open of a 32-byte key
// with the same suite and a short info, so that Wrap/Unwrap divided by them
// is this package's overhead over the raw primitive.

func benchSuites(b *testing.B, f func(b *testing.B, s identity.Suite, a *actors)) {
	for _, s := range suites {
		b.Run(s.String(), func(b *testing.B) { f(b, s, testActors(b, s)) })
	}
}

func BenchmarkWrap(b *testing.B) {
	benchSuites(b, func(b *testing.B, s identity.Suite, a *actors) {
		key := testKey(b)
		to := a.provider.Public()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := envelope.GrantEnvelope(a.patient, to, 1, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBaselineHPKESeal(b *testing.B) {
	benchSuites(b, func(b *testing.B, s identity.Suite, a *actors) {
		key := testKey(b)
		pk := a.provider.Decryption.Public().HPKE()
		info := []byte(envelope.Label)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := hpke.Seal(pk, identity.KDF(), identity.AEAD(), info, key[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUnwrap(b *testing.B) {
	benchSuites(b, func(b *testing.B, s identity.Suite, a *actors) {
		e, err := envelope.GrantEnvelope(a.patient, a.provider.Public(), 1, testKey(b))
		if err != nil {
			b.Fatal(err)
		}
		want := envelope.GrantContext(a.patient.ID(), a.provider.ID(), 1, s)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Unwrap(want, a.provider.Decryption, a.patient.Signing.Public()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseUnwrap is what a provider does with an envelope read from
// the chain.
func BenchmarkParseUnwrap(b *testing.B) {
	benchSuites(b, func(b *testing.B, s identity.Suite, a *actors) {
		e, err := envelope.GrantEnvelope(a.patient, a.provider.Public(), 1, testKey(b))
		if err != nil {
			b.Fatal(err)
		}
		raw := mustMarshalEnvelope(b, e)
		want := envelope.GrantContext(a.patient.ID(), a.provider.ID(), 1, s)
		b.ReportAllocs()
		for b.Loop() {
			e, err := envelope.ParseEnvelope(raw)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Unwrap(want, a.provider.Decryption, a.patient.Signing.Public()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBaselineHPKEOpen(b *testing.B) {
	benchSuites(b, func(b *testing.B, s identity.Suite, a *actors) {
		key := testKey(b)
		info := []byte(envelope.Label)
		ct, err := hpke.Seal(a.provider.Decryption.Public().HPKE(), identity.KDF(), identity.AEAD(), info, key[:])
		if err != nil {
			b.Fatal(err)
		}
		sk := a.provider.Decryption.HPKE()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := hpke.Open(sk, identity.KDF(), identity.AEAD(), info, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

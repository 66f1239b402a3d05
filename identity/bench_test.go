package identity_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

// The baselines are crypto/ed25519's Sign and Verify: Verify (ZIP-215, through
// ed25519consensus) and SignContext show their cost as a ratio to them.

func BenchmarkVerify(b *testing.B) {
	k := mustSigningKey(b, identity.RoleDevice)
	v := k.Public()
	pub := ed25519.PublicKey(v.Bytes())
	for _, size := range []int{64, 256} {
		msg := make([]byte, size)
		sig := k.Sign(msg)
		ctxSig := k.SignContext("reading", msg)
		b.Run(fmt.Sprintf("%dB/ed25519", size), func(b *testing.B) {
			for b.Loop() {
				if !ed25519.Verify(pub, msg, sig) {
					b.Fatal("bad signature")
				}
			}
		})
		b.Run(fmt.Sprintf("%dB/zip215", size), func(b *testing.B) {
			for b.Loop() {
				if err := v.Verify(msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dB/zip215-context", size), func(b *testing.B) {
			for b.Loop() {
				if err := v.VerifyContext("reading", msg, ctxSig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	k := mustSigningKey(b, identity.RoleDevice)
	priv := ed25519.NewKeyFromSeed(k.Seed())
	for _, size := range []int{64, 256} {
		msg := make([]byte, size)
		b.Run(fmt.Sprintf("%dB/ed25519", size), func(b *testing.B) {
			for b.Loop() {
				ed25519.Sign(priv, msg)
			}
		})
		b.Run(fmt.Sprintf("%dB/Sign", size), func(b *testing.B) {
			for b.Loop() {
				k.Sign(msg)
			}
		})
		b.Run(fmt.Sprintf("%dB/SignContext", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k.SignContext("reading", msg)
			}
		})
	}
}

func BenchmarkParseVerifyingKey(b *testing.B) {
	s := mustSigningKey(b, identity.RoleDevice).Public().String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := identity.ParseVerifyingKey(s); err != nil {
			b.Fatal(err)
		}
	}
}

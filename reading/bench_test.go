package reading

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/hdevalence/ed25519consensus"

	"github.com/vitalchain/vitalchain/identity"
)

// The baselines sign and verify a message as long as the Sig_structure of
// a reading, so that Sign/ParseVerify divided by them is this package's
// overhead over the raw primitive.

func benchSetup(b *testing.B) (*identity.SigningKey, Reading, []byte, []byte) {
	key := testKey(b, identity.RoleDevice, 0)
	r := testReading(key.Public().ID())
	msg, err := Sign(r, key)
	if err != nil {
		b.Fatal(err)
	}
	tbs := sigStructure(protEdDSA, mustMarshal(b, r))
	return key, r, msg, tbs
}

func BenchmarkSign(b *testing.B) {
	key, r, _, _ := benchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(r, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineEd25519Sign(b *testing.B) {
	key, _, _, tbs := benchSetup(b)
	priv := ed25519.NewKeyFromSeed(key.Seed())
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(priv, tbs)
	}
}

func BenchmarkParse(b *testing.B) {
	_, _, msg, _ := benchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseVerify(b *testing.B) {
	key, _, msg, _ := benchSetup(b)
	pub := key.Public()
	b.ReportAllocs()
	for b.Loop() {
		s, err := Parse(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineEd25519ConsensusVerify(b *testing.B) {
	key, _, msg, tbs := benchSetup(b)
	pub := key.Public().Bytes()
	sig := msg[len(msg)-64:]
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519consensus.Verify(pub, tbs, sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkVerifyOverhead alternates Parse+Verify and the raw
// ed25519consensus.Verify of the same Sig_structure in one loop, so that
// load from other processes hits both alike, and reports this package's
// overhead in percent of the raw verify (target: at most 10).
func BenchmarkVerifyOverhead(b *testing.B) {
	key, _, msg, tbs := benchSetup(b)
	pub := key.Public()
	raw, sig := pub.Bytes(), msg[len(msg)-64:]
	var ours, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		s, err := Parse(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Verify(pub); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if !ed25519consensus.Verify(raw, tbs, sig) {
			b.Fatal("bad signature")
		}
		base += time.Since(t1)
		ours += t1.Sub(t0)
	}
	b.ReportMetric(100*float64(ours-base)/float64(base), "%overhead")
}

package envelope_test

import (
	"bytes"
	"testing"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// FuzzParseEnvelope feeds untrusted bytes to ParseEnvelope and, when they
// parse, to Check and Unwrap with the seeds' recipient keys. Invariants: no
// panic; no envelope with an error; a parsed envelope re-encodes to exactly
// its input (one encoding per envelope) and is within MaxSize; Check passes
// for its own context; and Unwrap either fails with an error or returns a
// non-zero key.
func FuzzParseEnvelope(f *testing.F) {
	var dks []*identity.DecryptionKey
	senders := map[identity.ID]identity.VerifyingKey{}
	for _, s := range suites {
		a := testActors(f, s)
		dks = append(dks, a.patient.Decryption, a.provider.Decryption)
		senders[a.patient.ID()], senders[a.provider.ID()] = a.patient.Signing.Public(), a.provider.Signing.Public()
		key, err := envelope.NewSessionKey()
		if err != nil {
			f.Fatal(err)
		}
		envs := make([]*envelope.Envelope, 3)
		if envs[0], err = envelope.SelfEnvelope(a.patient, 1, key); err != nil {
			f.Fatal(err)
		}
		if envs[1], err = envelope.GrantEnvelope(a.patient, a.provider.Public(), 1<<40, key); err != nil {
			f.Fatal(err)
		}
		if envs[2], err = envelope.ProviderRecordEnvelope(a.provider, a.patient.Public(), recordID(3), key); err != nil {
			f.Fatal(err)
		}
		for _, e := range envs {
			b := mustMarshalEnvelope(f, e)
			f.Add(b)
			f.Add(b[:len(b)/2])
			f.Add(append(bytes.Clone(b), 0))
			flipped := bytes.Clone(b)
			flipped[len(b)-5] ^= 1
			f.Add(flipped)
			f.Add(rawMap(f, replace(envelopePairs(e), 4, 2)...))
			f.Add(rawMap(f, replace(envelopePairs(e), 2, 4)...))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := envelope.ParseEnvelope(b)
		if err != nil {
			if e != nil {
				t.Fatal("envelope returned with an error")
			}
			return
		}
		if len(b) > envelope.MaxSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		again, err := e.Marshal()
		if err != nil {
			t.Fatalf("parsed envelope does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("parsed envelope is not canonical:\n got %x\nwant %x", b, again)
		}
		if err := e.Check(e.Context); err != nil {
			t.Fatalf("envelope does not check against its own context: %v", err)
		}
		sender, ok := senders[e.Sender]
		if !ok {
			return
		}
		for _, dk := range dks {
			k, err := e.Unwrap(e.Context, dk, sender)
			if err == nil && k.IsZero() {
				t.Fatal("zero key unwrapped")
			}
		}
	})
}

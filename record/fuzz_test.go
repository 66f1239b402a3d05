package record_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/record"
)

// FuzzParseRecord feeds untrusted bytes to ParseRecord and, when they parse,
// to Header (which must succeed, as ParseRecord checks the header), Verify (with a patient's and a provider's key), Open (with the
// seeds' session key) and the package-level Verify. Invariants: no panic; no
// record with an error; a parsed record and its header re-encode to exactly
// their bytes; a verified record's header is the decoded one, names the
// verifying key, and hashes the ciphertext; Open succeeds only on a
// ciphertext that the header hashes; and Verify(bytes, lookup) agrees with
// ParseRecord, Header and Record.Verify.
func FuzzParseRecord(f *testing.F) {
	a := testActors(f, identity.SuiteX25519)
	key := envelope.SessionKey{0x5e, 0x55}
	keys := map[identity.ID]identity.VerifyingKey{
		a.patient.ID():  a.patient.Signing.Public(),
		a.provider.ID(): a.provider.Signing.Public(),
	}
	lookup := func(id identity.ID) (identity.VerifyingKey, error) {
		if k, ok := keys[id]; ok {
			return k, nil
		}
		return identity.VerifyingKey{}, errors.New("unknown author")
	}
	gw := mustSeal(f, gatewayHeader(a.patient.ID(), 1), key, signedReading(f, a), a.patient.Signing)
	pr := mustSeal(f, providerHeader(a.patient.ID(), 1<<40), key, []byte("note"), a.provider.Signing)
	for _, r := range []*record.Record{gw, pr} {
		b, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
		for _, i := range []int{5, 40, len(b) - 70, len(b) - 1} {
			flipped := bytes.Clone(b)
			flipped[i] ^= 1
			f.Add(flipped)
		}
		h := mustHeader(f, r)
		h.Alert = !h.Alert
		f.Add(mustMarshal(f, resign(f, r, h, a.patient.Signing)))
		f.Add(rawMap(f, replace(recordPairs(r), 1, rawMap(f, without(headerPairs(h), 7)...))...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := record.ParseRecord(b)
		vr, vh, verr := record.Verify(b, lookup)
		if err != nil {
			if r != nil || vr != nil {
				t.Fatal("record returned with an error")
			}
			if verr == nil {
				t.Fatal("Verify accepted what ParseRecord refuses")
			}
			return
		}
		if len(b) > record.MaxRecordSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		again, err := r.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("parsed record does not re-encode to its bytes (%v)", err)
		}
		h, err := r.Header()
		if err != nil {
			t.Fatalf("ParseRecord accepted a record whose header is bad: %v", err)
		}
		if hb, err := codec.Marshal(h); err != nil || !bytes.Equal(hb, r.HeaderBytes) {
			t.Fatalf("decoded header does not re-encode to its bytes (%v)", err)
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("Header returned an invalid header: %v", err)
		}
		verified := false
		for _, k := range keys {
			got, err := r.Verify(k)
			if err != nil {
				continue
			}
			verified = true
			if got != h {
				t.Fatal("Verify returned another header than Header")
			}
			if got.Author != k.ID() || sha256.Sum256(r.Ciphertext) != got.CiphertextHash {
				t.Fatal("verified header does not name its key or hash its ciphertext")
			}
		}
		if (verr == nil) != verified {
			t.Fatalf("Verify(bytes) says %v, Record.Verify says verified=%v", verr, verified)
		}
		if verr == nil && (vh != h || vr.ID() != r.ID()) {
			t.Fatal("Verify(bytes) returned another record")
		}
		if _, err := r.Open(key); err == nil {
			if sha256.Sum256(r.Ciphertext) != h.CiphertextHash {
				t.Fatal("Open succeeded on a record whose header does not hash its ciphertext")
			}
		}
	})
}

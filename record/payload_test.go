package record_test

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, p := range []record.Payload{
		{Kind: vital.Glucose, Severity: 3, Body: []byte("x")},
		{Kind: vital.Steps, Severity: 1, Body: bytes.Repeat([]byte{7}, record.PadSize-5)},
		{Kind: vital.HeartRate, Severity: 2, Body: bytes.Repeat([]byte{7}, record.PadSize-4)},
		{Body: []byte("a note about no vital sign")},
		{Kind: vital.SpO2, Body: make([]byte, record.MaxBodySize)},
	} {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(b)%record.PadSize != 0 || len(b)-len(p.Body)-5 >= record.PadSize {
			t.Fatalf("a body of %d bytes encodes to %d", len(p.Body), len(b))
		}
		got, err := record.ParsePayload(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != p.Kind || got.Severity != p.Severity || !bytes.Equal(got.Body, p.Body) {
			t.Fatalf("got %+v", got)
		}
	}
}

func TestParsePayloadErrors(t *testing.T) {
	good, err := pl([]byte("hello")).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, record.ErrInvalidPayload},
		{"unpadded", good[:10], record.ErrInvalidPayload},
		{"one-byte-short", good[:len(good)-1], record.ErrInvalidPayload},
		{"too-large", make([]byte, record.MaxPlaintextSize+record.PadSize), codec.ErrTooLarge},
		{"version-0", with(func(b []byte) []byte { b[0] = 0; return b }), codec.ErrUnknownVersion},
		{"version-2", with(func(b []byte) []byte { b[0] = 2; return b }), codec.ErrUnknownVersion},
		{"unknown-kind", with(func(b []byte) []byte { b[1] = 200; return b }), vital.ErrUnknownKind},
		{"empty-body", with(func(b []byte) []byte { b[3], b[4] = 0, 0; return b }), codec.ErrMissingField},
		{"body-past-end", with(func(b []byte) []byte { b[3], b[4] = 1, 0; return b }), record.ErrInvalidPayload},
		{"padding-not-zero", with(func(b []byte) []byte { b[len(b)-1] = 1; return b }), record.ErrInvalidPayload},
		{"a-block-of-padding-too-many", append(bytes.Clone(good), make([]byte, record.PadSize)...), record.ErrInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := record.ParsePayload(tt.b); !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
	if _, err := (record.Payload{Kind: 200, Body: []byte("x")}).Marshal(); !errors.Is(err, vital.ErrUnknownKind) {
		t.Fatalf("marshal of an unknown kind: %v", err)
	}
}

// FuzzParsePayload: no panic; what parses is a valid payload that encodes
// to exactly the bytes parsed.
func FuzzParsePayload(f *testing.F) {
	for _, p := range []record.Payload{pl([]byte("reading")), {Body: bytes.Repeat([]byte{1}, 300)}} {
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := record.ParsePayload(b)
		if err != nil {
			return
		}
		again, err := p.Marshal()
		if err != nil {
			t.Fatalf("parsed payload does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
	})
}

// TestOpenWith is a provider's choice of key among those of its scope.
func TestOpenWith(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	epochKey := testKey(t)
	h := gatewayHeader(a.patient.ID(), 1)
	keyOf := func(k vital.Kind) envelope.SessionKey { return envelope.KindKey(epochKey, a.patient.ID(), h.Epoch, k) }
	r, err := record.Seal(h, keyOf(vital.Glucose), record.Payload{Kind: vital.Glucose, Severity: 3, Body: signedReading(t, a)}, a.patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	all := map[vital.Kind]envelope.SessionKey{}
	for _, k := range vital.Kinds() {
		all[k] = keyOf(k)
	}
	p, err := r.OpenWith(all)
	if err != nil || p.Kind != vital.Glucose || p.Severity != 3 {
		t.Fatalf("with every key: %+v, %v", p, err)
	}
	delete(all, vital.Glucose)
	if _, err := r.OpenWith(all); !errors.Is(err, record.ErrWrongKey) {
		t.Fatalf("without the glucose key: got %v, want ErrWrongKey", err)
	}
	if _, err := r.OpenWith(nil); !errors.Is(err, record.ErrWrongKey) {
		t.Fatalf("with no key: got %v, want ErrWrongKey", err)
	}
	// A patient's gateway that seals a heart-rate payload under the glucose
	// key: the key opens it, the payload contradicts it.
	lying, err := record.Seal(h, keyOf(vital.Glucose), record.Payload{Kind: vital.HeartRate, Severity: 1, Body: []byte("x")}, a.patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lying.OpenWith(map[vital.Kind]envelope.SessionKey{vital.Glucose: keyOf(vital.Glucose)}); !errors.Is(err, record.ErrInvalidPayload) {
		t.Fatalf("a heart-rate payload under the glucose key: got %v, want ErrInvalidPayload", err)
	}
	// A provider's record has no key tag: its key comes with its envelope.
	pr := mustSeal(t, providerHeader(a.patient.ID(), 1), keyOf(vital.Glucose), []byte("x"), a.provider.Signing)
	if _, err := pr.OpenWith(map[vital.Kind]envelope.SessionKey{vital.Glucose: keyOf(vital.Glucose)}); !errors.Is(err, record.ErrWrongKey) {
		t.Fatalf("provider's record: got %v, want ErrWrongKey", err)
	}
}

// TestCloudCannotTellKinds seals, as a gateway does, a signed reading of
// every vital sign at its lowest and highest plausible value, at two
// severities, under headers that differ in their Seq only (one reading, one
// record), and checks what the cloud sees (the header bytes, the
// ciphertext's length): every header has the same CBOR keys, each field
// encoded in the same number of bytes, and the fields that differ between
// two records, besides the Seq, are the key tag, the nonce and the
// ciphertext hash only, each different in every record (pseudo-random: none
// groups records by vital sign or severity). The ciphertexts are all the same size.
// Format version 1 fails this: its keys 6 and 7 were the vital sign and
// the severity.
func TestCloudCannotTellKinds(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	epochKey := testKey(t)
	h := gatewayHeader(a.patient.ID(), 1)
	type sealed struct {
		kind   vital.Kind
		sev    uint8
		fields map[uint64]cbor.RawMessage
		hb, ct []byte
	}
	var recs []sealed
	for _, k := range vital.Kinds() {
		for _, v := range []vital.Quantity{k.Info().Min, k.Info().Max} {
			rd := reading.New(a.patient.ID(), a.device.ID(), 1<<40, testTime, k, v)
			msg, err := reading.Sign(rd, a.device.Signing)
			if err != nil {
				t.Fatal(err)
			}
			for _, sev := range []uint8{1, 3} {
				h.Seq = 1<<40 + uint64(len(recs))
				r, err := record.SealDeterministic(h, envelope.KindKey(epochKey, a.patient.ID(), h.Epoch, k),
					record.Payload{Kind: k, Severity: sev, Body: msg}, a.patient.Signing)
				if err != nil {
					t.Fatal(err)
				}
				var fields map[uint64]cbor.RawMessage
				if err := cbor.Unmarshal(r.HeaderBytes, &fields); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, sealed{k, sev, fields, r.HeaderBytes, r.Ciphertext})
			}
		}
	}
	first := recs[0]
	keys := slices.Sorted(maps.Keys(first.fields))
	if !slices.Equal(keys, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("header keys %v", keys)
	}
	pseudoRandom := map[uint64]bool{6: true, 10: true, 11: true} // key tag, nonce, ciphertext hash
	for i, r := range recs {
		if got := slices.Sorted(maps.Keys(r.fields)); !slices.Equal(got, keys) {
			t.Fatalf("%s/%d: header keys %v, want %v", r.kind, r.sev, got, keys)
		}
		if len(r.hb) != len(first.hb) || len(r.ct) != len(first.ct) {
			t.Fatalf("%s/%d: header of %d bytes and ciphertext of %d, %s/%d's %d and %d",
				r.kind, r.sev, len(r.hb), len(r.ct), first.kind, first.sev, len(first.hb), len(first.ct))
		}
		for _, k := range keys {
			if len(r.fields[k]) != len(first.fields[k]) {
				t.Fatalf("%s/%d: field %d is %d bytes, %d in %s/%d", r.kind, r.sev, k, len(r.fields[k]), len(first.fields[k]), first.kind, first.sev)
			}
			for _, o := range recs[:i] {
				same := bytes.Equal(r.fields[k], o.fields[k])
				if pseudoRandom[k] && same {
					t.Fatalf("field %d repeats between %s/%d and %s/%d", k, r.kind, r.sev, o.kind, o.sev)
				}
				if !pseudoRandom[k] && k != 9 && !same {
					t.Fatalf("field %d differs between %s/%d and %s/%d", k, r.kind, r.sev, o.kind, o.sev)
				}
			}
		}
	}
}

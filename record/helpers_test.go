package record_test

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

var suites = []identity.Suite{identity.SuiteX25519, identity.SuiteMLKEM768X25519}

type actors struct {
	patient, patient2, provider, provider2, device *identity.Identity
}

var (
	actorsOnce sync.Once
	actorsBy   map[identity.Suite]*actors
)

func testActors(t testing.TB, suite identity.Suite) *actors {
	t.Helper()
	actorsOnce.Do(func() {
		actorsBy = make(map[identity.Suite]*actors)
		for _, s := range suites {
			actorsBy[s] = &actors{
				patient:   mustGenerate(identity.RolePatient, s),
				patient2:  mustGenerate(identity.RolePatient, s),
				provider:  mustGenerate(identity.RoleProvider, s),
				provider2: mustGenerate(identity.RoleProvider, s),
				device:    mustGenerate(identity.RoleDevice, s),
			}
		}
	})
	return actorsBy[suite]
}

func mustGenerate(role identity.Role, suite identity.Suite) *identity.Identity {
	id, err := identity.Generate(role, suite)
	if err != nil {
		panic(err)
	}
	return id
}

func testKey(t testing.TB) envelope.SessionKey {
	t.Helper()
	k, err := envelope.NewSessionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testTime is 2025-01-01T00:00:00Z.
var testTime = time.UnixMilli(1735689600000)

var testContract = sha256.Sum256([]byte("contract: glucose > 180 mg/dL"))

// gatewayHeader is the header a patient's gateway writes for an abnormal
// glucose reading in epoch 2.
func gatewayHeader(patient identity.ID, seq uint64) record.Header {
	return record.Header{
		Patient:  patient,
		Epoch:    2,
		Contract: testContract,
		Alert:    true,
		Time:     testTime.UnixMilli(),
		Seq:      seq,
	}
}

// providerHeader is the header of a provider's record (transaction 3) for
// patient; ProviderRecord also accepts a zero patient, which it fills in.
func providerHeader(patient identity.ID, seq uint64) record.Header {
	return record.Header{Patient: patient, Time: testTime.UnixMilli(), Seq: seq}
}

// signedReading is the plaintext of a gateway's record: the device's signed
// reading, as the device sent it.
func signedReading(t testing.TB, a *actors) []byte {
	t.Helper()
	r := reading.New(a.patient.ID(), a.device.ID(), 7, testTime, vital.Glucose, 250*vital.Unit)
	msg, err := reading.Sign(r, a.device.Signing)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// pl is the payload of a glucose reading of severity 2 with body b.
func pl(b []byte) record.Payload {
	return record.Payload{Kind: vital.Glucose, Severity: 2, Body: b}
}

// mustSeal seals pl(body).
func mustSeal(t testing.TB, h record.Header, key envelope.SessionKey, body []byte, sk *identity.SigningKey) *record.Record {
	t.Helper()
	r, err := record.Seal(h, key, pl(body), sk)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHeader(t testing.TB, r *record.Record) record.Header {
	t.Helper()
	h, err := r.Header()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// resign returns r with its header replaced by h (encoded as it is, with no
// validation) and signed by sk: what an author, or a forger with the
// author's key, could make.
func resign(t testing.TB, r *record.Record, h record.Header, sk *identity.SigningKey) *record.Record {
	t.Helper()
	hb := mustMarshal(t, h)
	return &record.Record{
		HeaderBytes: hb,
		Ciphertext:  append([]byte(nil), r.Ciphertext...),
		Signature:   sk.SignContext(record.SignContext, hb),
	}
}

// kv is one entry of a hand-built CBOR map.
type kv struct {
	k uint64
	v any
}

// rawMap encodes pairs as a CBOR map in the given order, allowing duplicate
// keys and any value types.
func rawMap(t testing.TB, pairs ...kv) []byte {
	t.Helper()
	b := []byte{0xa0 + byte(len(pairs))}
	for _, p := range pairs {
		b = append(b, mustMarshal(t, p.k)...)
		b = append(b, mustMarshal(t, p.v)...)
	}
	return b
}

func recordPairs(r *record.Record) []kv {
	return []kv{{1, r.HeaderBytes}, {2, r.Ciphertext}, {3, r.Signature}}
}

func headerPairs(h record.Header) []kv {
	return []kv{
		{1, h.Version}, {2, h.Patient}, {3, h.Author}, {4, h.Epoch}, {5, h.Contract}, {6, h.KeyTag},
		{7, h.Alert}, {8, h.Time}, {9, h.Seq}, {10, h.Nonce}, {11, h.CiphertextHash},
	}
}

func replace(pairs []kv, k uint64, v any) []kv {
	out := append([]kv(nil), pairs...)
	for i := range out {
		if out[i].k == k {
			out[i].v = v
		}
	}
	return out
}

func without(pairs []kv, k uint64) []kv {
	var out []kv
	for _, p := range pairs {
		if p.k != k {
			out = append(out, p)
		}
	}
	return out
}

package reading

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorFile = "testdata/vectors.json"

// vector is one known-answer test for other implementations of the format.
// Byte strings are in lower-case hex.
type vector struct {
	Comment       string `json:"comment"`
	DeviceSeed    string `json:"device_seed"`       // Ed25519 seed (RFC 8032 secret key)
	DevicePublic  string `json:"device_public_key"` // Ed25519 public key
	DeviceID      string `json:"device_id"`         // SHA-256(public key), the kid
	PatientID     string `json:"patient_id"`
	Seq           uint64 `json:"seq"`
	TimeMillis    int64  `json:"time_unix_ms"`
	Code          string `json:"loinc_code"`
	Value         int64  `json:"value_thousandths"`
	Unit          string `json:"ucum_unit"`
	Payload       string `json:"payload"`       // CBOR of the Reading
	SigStructure  string `json:"sig_structure"` // the bytes Ed25519 signs
	Signature     string `json:"signature"`
	Message       string `json:"message"` // the whole COSE_Sign1, the MQTT payload
	MessageLength int    `json:"message_length"`
}

func makeVectors(t *testing.T) []vector {
	key := testKey(t, identity.RoleDevice, 0)
	dev := key.Public().ID()
	cases := []struct {
		comment string
		r       Reading
	}{
		{"glucose 180 mg/dL, first reading",
			New(testPatient(), dev, 1, testTime, vital.Glucose, 180*vital.Unit)},
		{"body temperature 37.25 Cel, seq 300 (two-byte uint)",
			New(testPatient(), dev, 300, testTime.Add(1500*time.Millisecond), vital.BodyTemperature, 37250)},
		{"0 steps in 24 h, seq above 2^32 (eight-byte uint)",
			New(testPatient(), dev, 1<<32+5, testTime.Add(24*time.Hour), vital.Steps, 0)},
		{"heart rate 72 /min",
			New(testPatient(), dev, 2, testTime.Add(time.Minute), vital.HeartRate, 72*vital.Unit)},
	}
	var vs []vector
	for _, c := range cases {
		msg, err := Sign(c.r, key)
		if err != nil {
			t.Fatal(err)
		}
		payload := mustMarshal(t, c.r)
		sig := msg[len(msg)-64:]
		vs = append(vs, vector{
			Comment:       c.comment,
			DeviceSeed:    hex.EncodeToString(key.Seed()),
			DevicePublic:  hex.EncodeToString(key.Public().Bytes()),
			DeviceID:      dev.Hex(),
			PatientID:     c.r.Patient.Hex(),
			Seq:           c.r.Seq,
			TimeMillis:    c.r.Time,
			Code:          c.r.Code,
			Value:         int64(c.r.Value),
			Unit:          c.r.Unit,
			Payload:       hex.EncodeToString(payload),
			SigStructure:  hex.EncodeToString(sigStructure(protEdDSA, payload)),
			Signature:     hex.EncodeToString(sig),
			Message:       hex.EncodeToString(msg),
			MessageLength: len(msg),
		})
	}
	return vs
}

// TestVectors checks the known-answer vectors in testdata against this
// implementation, and each vector against itself: the payload and
// Sig_structure are as the package documentation describes, the signature
// is Ed25519 of the Sig_structure, and the message verifies.
func TestVectors(t *testing.T) {
	want := makeVectors(t)
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []vector
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s has %d vectors, want %d (run go test -update)", vectorFile, len(got), len(want))
	}
	unhex := func(s string) []byte {
		t.Helper()
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, v := range got {
		if v != want[i] {
			t.Errorf("vector %d (%s) differs from this implementation:\n got %+v\nwant %+v", i, v.Comment, v, want[i])
			continue
		}
		key, err := identity.NewSigningKey(identity.RoleDevice, unhex(v.DeviceSeed))
		if err != nil {
			t.Fatal(err)
		}
		pub := key.Public()
		if !bytes.Equal(pub.Bytes(), unhex(v.DevicePublic)) || pub.ID().Hex() != v.DeviceID {
			t.Errorf("vector %d: key or ID mismatch", i)
		}
		payload, msg := unhex(v.Payload), unhex(v.Message)
		if !bytes.Equal(unhex(v.SigStructure), sigStructure(protEdDSA, payload)) {
			t.Errorf("vector %d: sig_structure is not as documented", i)
		}
		if !bytes.Equal(key.Sign(unhex(v.SigStructure)), unhex(v.Signature)) {
			t.Errorf("vector %d: signature is not Ed25519 of sig_structure", i)
		}
		if !bytes.Equal(msg, assemble(protEdDSA, unprotKid(unhex(v.DeviceID)), payload, unhex(v.Signature))) {
			t.Errorf("vector %d: message is not the documented assembly", i)
		}
		r, err := Verify(msg, func(identity.ID) (identity.VerifyingKey, error) { return pub, nil })
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if r.Seq != v.Seq || r.Time != v.TimeMillis || r.Code != v.Code || int64(r.Value) != v.Value || r.Unit != v.Unit || r.Patient.Hex() != v.PatientID {
			t.Errorf("vector %d: decoded %+v", i, r)
		}
	}
}

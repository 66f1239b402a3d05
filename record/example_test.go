package record_test

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

func Example() {
	patient, _ := identity.Generate(identity.RolePatient, identity.DefaultSuite)

	// The gateway: epoch 1's key, and the glucose key derived from it,
	// granted to the provider (transactions 1 and 2 go to the ledger), then
	// an abnormal glucose reading sealed under it.
	key, _ := envelope.NewSessionKey()
	glucose := envelope.KindKey(key, patient.ID(), 1, vital.Glucose)
	h := record.Header{
		Patient:  patient.ID(),
		Epoch:    1,
		Contract: [32]byte{0xc0},
		Alert:    true,
		Time:     1735689600000,
		Seq:      1,
	}
	signedReading := []byte("the device's COSE_Sign1 reading, as it arrived")
	p := record.Payload{Kind: vital.Glucose, Severity: 2, Body: signedReading}
	r, err := record.Seal(h, glucose, p, patient.Signing)
	if err != nil {
		panic(err)
	}
	upload, _ := r.Marshal()

	// The cloud: checks the author's signature and the ciphertext hash,
	// with no key; the record's ID is its Merkle leaf. The header says to
	// raise an alert, not of what.
	lookup := func(id identity.ID) (identity.VerifyingKey, error) {
		if id == patient.ID() {
			return patient.Signing.Public(), nil
		}
		return identity.VerifyingKey{}, errors.New("not registered")
	}
	stored, hdr, err := record.Verify(upload, lookup)
	if err != nil {
		panic(err)
	}
	fmt.Println(hdr.Alert, hdr.Seq, hdr.Epoch)

	// A provider granted glucose and heart rate holds those two keys of the
	// epoch (from its grant on the ledger): the key tag says which opens
	// the record.
	scope := map[vital.Kind]envelope.SessionKey{
		vital.Glucose:   glucose,
		vital.HeartRate: envelope.KindKey(key, patient.ID(), 1, vital.HeartRate),
	}
	got, err := stored.OpenWith(scope)
	fmt.Println(got.Kind, got.Severity, string(got.Body), err)
	// One granted heart rate only cannot open it.
	_, err = stored.OpenWith(map[vital.Kind]envelope.SessionKey{vital.HeartRate: scope[vital.HeartRate]})
	fmt.Println(errors.Is(err, record.ErrWrongKey))

	// A flipped bit in storage is caught by the cloud and by the reader.
	stored.Ciphertext[0] ^= 1
	_, err = stored.Verify(patient.Signing.Public())
	fmt.Println(errors.Is(err, record.ErrCiphertextHash))
	// Output:
	// true 1 1
	// glucose 2 the device's COSE_Sign1 reading, as it arrived <nil>
	// true
	// true
}

func ExampleProviderRecord() {
	patient, _ := identity.Generate(identity.RolePatient, identity.DefaultSuite)
	provider, _ := identity.Generate(identity.RoleProvider, identity.DefaultSuite)

	// Transaction 3: the record goes to the cloud, the envelope (naming
	// the record's ID) to the ledger.
	h := record.Header{Time: 1735689600000, Seq: 1}
	r, env, err := record.ProviderRecord(provider, patient.Public(), h, record.Payload{Kind: vital.Glucose, Body: []byte("Metformin 500 mg twice daily")})
	if err != nil {
		panic(err)
	}
	fmt.Println(env.Kind, env.Subject == r.ID(), env.Epoch)

	// The patient.
	hdr, p, err := record.OpenProviderRecord(r, env, patient, provider.Signing.Public())
	fmt.Println(hdr.Author == provider.ID(), p.Kind, string(p.Body), err)
	// Output:
	// provider-record true 0
	// true glucose Metformin 500 mg twice daily <nil>
}

func ExampleRecord_ID() {
	patient, _ := identity.NewSigningKey(identity.RolePatient, make([]byte, 32))
	key := envelope.SessionKey{1}
	r, _ := record.Seal(gatewayHeader(patient.Public().ID(), 1), key, pl([]byte("reading")), patient)
	id := r.ID()
	fmt.Println(id == sha256.Sum256(r.HeaderBytes))
	// Output: true
}

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
	provider, _ := identity.Generate(identity.RoleProvider, identity.DefaultSuite)

	// The gateway: epoch 1's key, granted to the provider (transactions 1
	// and 2 go to the ledger), then an abnormal reading sealed under it.
	key, _ := envelope.NewSessionKey()
	grant, _ := envelope.GrantEnvelope(patient, provider.Public(), 1, key)
	h := record.Header{
		Patient:  patient.ID(),
		Epoch:    1,
		Contract: [32]byte{0xc0},
		Kind:     vital.Glucose,
		Severity: 2,
		Time:     1735689600000,
		Seq:      1,
	}
	signedReading := []byte("the device's COSE_Sign1 reading, as it arrived")
	r, err := record.Seal(h, key, signedReading, patient.Signing)
	if err != nil {
		panic(err)
	}
	upload, _ := r.Marshal()

	// The cloud: checks the author's signature and the ciphertext hash,
	// with no key; the record's ID is its Merkle leaf.
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
	fmt.Println(hdr.Kind, hdr.Seq, hdr.Epoch)

	// The provider: unwraps the epoch's key from its grant and decrypts.
	want := envelope.GrantContext(hdr.Patient, provider.ID(), hdr.Epoch, provider.Decryption.Suite())
	k, err := grant.Unwrap(want, provider.Decryption, patient.Signing.Public())
	if err != nil {
		panic(err)
	}
	pt, err := stored.Open(k)
	fmt.Println(string(pt), err)

	// A flipped bit in storage is caught by the cloud and by the reader.
	stored.Ciphertext[0] ^= 1
	_, err = stored.Verify(patient.Signing.Public())
	fmt.Println(errors.Is(err, record.ErrCiphertextHash))
	// Output:
	// glucose 1 1
	// the device's COSE_Sign1 reading, as it arrived <nil>
	// true
}

func ExampleProviderRecord() {
	patient, _ := identity.Generate(identity.RolePatient, identity.DefaultSuite)
	provider, _ := identity.Generate(identity.RoleProvider, identity.DefaultSuite)

	// Transaction 3: the record goes to the cloud, the envelope (naming
	// the record's ID) to the ledger.
	h := record.Header{Time: 1735689600000, Seq: 1}
	r, env, err := record.ProviderRecord(provider, patient.Public(), h, []byte("Metformin 500 mg twice daily"))
	if err != nil {
		panic(err)
	}
	fmt.Println(env.Kind, env.Subject == r.ID(), env.Epoch)

	// The patient.
	hdr, pt, err := record.OpenProviderRecord(r, env, patient, provider.Signing.Public())
	fmt.Println(hdr.Author == provider.ID(), string(pt), err)
	// Output:
	// provider-record true 0
	// true Metformin 500 mg twice daily <nil>
}

func ExampleRecord_ID() {
	patient, _ := identity.NewSigningKey(identity.RolePatient, make([]byte, 32))
	key := envelope.SessionKey{1}
	r, _ := record.Seal(gatewayHeader(patient.Public().ID(), 1), key, []byte("reading"), patient)
	id := r.ID()
	fmt.Println(id == sha256.Sum256(r.HeaderBytes))
	// Output: true
}

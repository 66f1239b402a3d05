package envelope_test

import (
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

func Example() {
	patient, _ := identity.Generate(identity.RolePatient, identity.DefaultSuite)
	provider, _ := identity.Generate(identity.RoleProvider, identity.DefaultSuite)

	// Transaction 1: the patient's key for epoch 1, wrapped to itself.
	key, _ := envelope.NewSessionKey()
	self, err := envelope.SelfEnvelope(patient, 1, key)
	if err != nil {
		panic(err)
	}
	// Transaction 2: the same key, granted to a provider.
	grant, err := envelope.GrantEnvelope(patient, provider.Public(), 1, key)
	if err != nil {
		panic(err)
	}
	onChain, _ := grant.Marshal()
	fmt.Println(self.Kind, grant.Kind, len(grant.Ciphertext), "bytes of ciphertext")

	// The provider reads the envelope from the chain, stating what it expects.
	e, err := envelope.ParseEnvelope(onChain)
	if err != nil {
		panic(err)
	}
	want := envelope.GrantContext(patient.ID(), provider.ID(), 1, provider.Decryption.Suite())
	got, err := e.Unwrap(want, provider.Decryption, patient.Signing.Public())
	fmt.Println(err == nil && got == key)

	// The same envelope offered as the key of epoch 2 is refused...
	want.Epoch = 2
	_, err = e.Unwrap(want, provider.Decryption, patient.Signing.Public())
	fmt.Println(errors.Is(err, envelope.ErrContextMismatch))

	// ...and so it is if its declared epoch is rewritten to match: the
	// patient's signature no longer holds.
	e.Epoch = 2
	_, err = e.Unwrap(want, provider.Decryption, patient.Signing.Public())
	fmt.Println(errors.Is(err, envelope.ErrSender))
	// Output:
	// self grant 1168 bytes of ciphertext
	// true
	// true
	// true
}

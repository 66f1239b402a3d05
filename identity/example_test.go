package identity_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vitalchain/vitalchain/identity"
)

func Example() {
	// A patient's gateway gets a signing key and, because patients receive
	// session keys, an HPKE key pair of the default (post-quantum) suite.
	id, err := identity.Generate(identity.RolePatient, identity.DefaultSuite)
	if err != nil {
		panic(err)
	}
	pub := id.Public()
	prefix, _, _ := strings.Cut(pub.Verifying.String(), ":")
	fmt.Println(prefix)
	prefix, _, _ = strings.Cut(pub.Encryption.String(), ":")
	fmt.Println(prefix)

	// Others read the published key back and check signatures made in a
	// named context, and the key's role.
	v, err := identity.ParseVerifyingKey(pub.Verifying.String())
	if err != nil {
		panic(err)
	}
	msg := []byte("consent: provider 7 may read glucose")
	sig := id.Signing.SignContext("consent", msg)
	fmt.Println(v.VerifyContext("consent", msg, sig))
	fmt.Println(v.VerifyContext("reading", msg, sig))
	fmt.Println(v.Role().Want(identity.RoleDevice))
	// Output:
	// vc-patient-ed25519-pub
	// vc-patient-mlkem768x25519-pub
	// <nil>
	// bad signature
	// wrong key role: patient key where device is required
}

func ExampleWriteFile() {
	dir, err := os.MkdirTemp("", "keys")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "device.key")

	id, err := identity.Generate(identity.RoleDevice, identity.DefaultSuite)
	if err != nil {
		panic(err)
	}
	if err := identity.WriteFile(path, id); err != nil {
		panic(err)
	}
	// A key file is never overwritten.
	fmt.Println(errors.Is(identity.WriteFile(path, id), identity.ErrFileExists))

	back, err := identity.ReadFile(path)
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Role(), back.ID() == id.ID(), back.Decryption == nil)
	// Output:
	// true
	// device true true
}

package envelope

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// TestInfoLayout pins the HPKE info to the map the package documents.
func TestInfoLayout(t *testing.T) {
	c := ProviderRecordContext(identity.ID{1}, identity.ID{2}, [32]byte{3}, identity.SuiteX25519)
	got, err := c.info()
	if err != nil {
		t.Fatal(err)
	}
	want, err := codec.Marshal(map[int]any{
		1: Label, 2: uint8(c.Kind), 3: c.Patient[:], 4: c.Epoch, 5: c.Subject[:],
		6: c.Sender[:], 7: c.Recipient[:], 8: uint16(c.Suite),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("info\n got %x\nwant %x", got, want)
	}
}

// TestUnwrapBadPlaintext seals what is not a session key, in the right
// context: a key of the wrong length, or all zeros, is refused.
func TestUnwrapBadPlaintext(t *testing.T) {
	dk, err := identity.GenerateDecryptionKey(identity.RolePatient, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := identity.GenerateSigningKey(identity.RolePatient)
	if err != nil {
		t.Fatal(err)
	}
	ctx := SelfContext(sender.Public().ID(), 1, identity.SuiteX25519)
	inf, err := ctx.info()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		pt   []byte
		err  error
	}{
		{"zero-key", make([]byte, KeySize), ErrZeroKey},
		{"short-key", make([]byte, KeySize-1), ErrDecrypt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := hpke.Seal(dk.Public().HPKE(), identity.KDF(), identity.AEAD(), inf, tt.pt)
			if err != nil {
				t.Fatal(err)
			}
			e := &Envelope{Version: Version, Context: ctx, Ciphertext: ct}
			if err := e.Sign(sender); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Unwrap(ctx, dk, sender.Public()); !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	e := &Envelope{Version: 1, Context: SelfContext(identity.ID{1}, 1, identity.SuiteX25519)} // version 1 was unsigned
	if err := e.Check(e.Context); !errors.Is(err, codec.ErrUnknownVersion) {
		t.Fatalf("got %v, want codec.ErrUnknownVersion", err)
	}
	e.Version, e.Kind = Version, 7
	if err := e.Check(e.Context); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("got %v, want ErrUnknownKind", err)
	}
}

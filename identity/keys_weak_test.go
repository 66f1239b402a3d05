package identity

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"
)

func TestCheckPublicKey(t *testing.T) {
	good, _, _ := ed25519.GenerateKey(nil)
	if err := CheckPublicKey(good); err != nil {
		t.Fatalf("a real key: %v", err)
	}
	for name, h := range map[string]string{
		"identity":     "0100000000000000000000000000000000000000000000000000000000000000",
		"order 2":      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"order 4":      "0000000000000000000000000000000000000000000000000000000000000000",
		"order 8":      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"not on curve": "0200000000000000000000000000000000000000000000000000000000000000",
		"wrong length": "0100",
	} {
		b, _ := hex.DecodeString(h)
		err := CheckPublicKey(b)
		if !errors.Is(err, ErrWeakKey) && !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v, want ErrWeakKey", name, err)
		}
	}
	// The reason it matters: ZIP-215 accepts the identity key's trivial
	// signature (R = identity, S = 0) for any message.
	id, _ := hex.DecodeString("0100000000000000000000000000000000000000000000000000000000000000")
	sig := append(append([]byte{}, id...), make([]byte, 32)...)
	if err := Verify(id, []byte("any message"), sig); err != nil {
		t.Fatalf("ZIP-215 no longer accepts the trivial forgery (%v): CheckPublicKey may be relaxed", err)
	}
}

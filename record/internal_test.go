package record

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// TestAssociatedData checks the shortcut Open takes: the header bytes with
// their last 32 bytes zeroed are the encoding of the header with a zero
// CiphertextHash, which is what Seal authenticates, and a record decrypts
// with plain AES-256-GCM under that associated data.
func TestAssociatedData(t *testing.T) {
	sk, err := identity.GenerateSigningKey(identity.RolePatient)
	if err != nil {
		t.Fatal(err)
	}
	id := sk.Public().ID()
	key := envelope.SessionKey{7}
	pt := []byte("a signed reading")
	r, err := Seal(Header{Patient: id, Epoch: 1, Contract: [32]byte{1}, Alert: true, Time: 1, Seq: 1}, key, Payload{Kind: vital.SpO2, Severity: 1, Body: pt}, sk)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Header()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(r.HeaderBytes, append([]byte{0x0b, 0x58, 0x20}, h.CiphertextHash[:]...)) {
		t.Fatal("the ciphertext hash is not the header's last field")
	}
	zeroed := h
	zeroed.CiphertextHash = [32]byte{}
	want, err := codec.Marshal(zeroed)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := associatedData(r.HeaderBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ad, want) {
		t.Fatalf("associated data\n got %x\nwant %x", ad, want)
	}
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	out, err := gcm.Open(nil, h.Nonce[:], r.Ciphertext, want)
	if err != nil || len(out) != PadSize || !bytes.Equal(out[payloadHead:payloadHead+len(pt)], pt) {
		t.Fatalf("raw AES-GCM open: %v", err)
	}
	if h.CiphertextHash != sha256.Sum256(r.Ciphertext) {
		t.Fatal("ciphertext hash")
	}
	if _, err := associatedData([]byte{1, 2, 3}); err == nil {
		t.Fatal("associatedData of junk")
	}
}

// TestHeaderCache checks that the header decoded by ParseRecord is the one
// the bytes hold, and is not used once the bytes change; a sealed record,
// which has none, decodes its header when asked.
func TestHeaderCache(t *testing.T) {
	sk, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	key := envelope.SessionKey{7}
	sealed, err := Seal(Header{Patient: identity.ID{9}, Time: 5, Seq: 3}, key, Payload{Body: []byte("x")}, sk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sealed.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Record{"sealed": sealed, "parsed": parsed} {
		t.Run(name, func(t *testing.T) {
			if (r.decoded == nil) != (name == "sealed") {
				t.Fatal("cached header where none is expected, or none where one is")
			}
			want, err := decodeHeader(r.HeaderBytes)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := r.Header(); err != nil || got != want {
				t.Fatalf("header %+v\ndecoded %+v (%v)", got, want, err)
			}
			// Change the Seq in place (it is 3, one byte after key 9).
			i := bytes.Index(r.HeaderBytes, []byte{0x09, 0x03})
			if i < 0 {
				t.Fatal("seq not found")
			}
			r.HeaderBytes[i+1] = 0x04
			h, err := r.Header()
			if err != nil || h.Seq != 4 {
				t.Fatalf("after an in-place change: seq %d, %v", h.Seq, err)
			}
			if _, err := r.Verify(sk.Public()); err == nil {
				t.Fatal("changed header verifies")
			}
			if _, err := r.Open(key); err == nil {
				t.Fatal("changed header opens")
			}
		})
	}
}

package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// A grant's scope is enforced by keys. A patient's epoch key is never
// handed to a provider: the records of each vital sign are sealed under a
// key of that vital sign and epoch (KindKey, derived from the epoch key),
// and a grant gives the provider only the keys of the vital signs in its
// scope. Its envelope wraps a key of that grant alone (GrantKey, derived
// from the epoch key, so that the patient finds it again), and the scope's
// keys travel sealed under it (SealScope), padded to every vital sign so
// that the ledger sees the same size whatever the scope. A provider granted
// heart rate cannot decrypt a glucose record, however it obtained it.

// Labels of the derivations, part of the format.
const (
	kindKeyLabel  = "vitalchain/kind-key/v1"
	grantKeyLabel = "vitalchain/grant-key/v1"
	scopeAD       = "vitalchain/scope/v1"
)

// ErrScopeKeys: sealed scope keys that do not open (tampered, another
// grant's, or a wrong grant key) or decode.
var ErrScopeKeys = errors.New("scope keys do not open")

// slots is the number of vital signs a scope may cover: one slot each.
var slots = len(vital.Kinds())

// SealedScopeSize is the size of sealed scope keys: a nonce, one slot of a
// presence byte and a key per vital sign, and the tag.
var SealedScopeSize = 12 + slots*(1+KeySize) + 16

func derive(epochKey SessionKey, label string, info ...[]byte) SessionKey {
	var b []byte
	for _, p := range info {
		b = append(b, p...)
	}
	k, err := hkdf.Key(sha256.New, epochKey[:], nil, label+string(b), KeySize)
	if err != nil {
		panic(fmt.Sprintf("envelope: hkdf: %v", err)) // cannot fail for 32 bytes of SHA-256
	}
	return SessionKey(k)
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// KindKey returns the key that seals a patient's records of kind in epoch,
// derived from the epoch's key (HKDF-SHA256, info: the label, the patient,
// the epoch and the kind).
func KindKey(epochKey SessionKey, patient identity.ID, epoch uint64, kind vital.Kind) SessionKey {
	return derive(epochKey, kindKeyLabel, patient[:], be64(epoch), []byte{byte(kind)})
}

// GrantKey returns the key that a grant of epoch to provider wraps in its
// envelope: it opens the grant's scope keys and nothing else.
func GrantKey(epochKey SessionKey, patient, provider identity.ID, epoch uint64) SessionKey {
	return derive(epochKey, grantKeyLabel, patient[:], be64(epoch), provider[:])
}

func scopeAEAD(k SessionKey) (cipher.AEAD, error) {
	b, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func scopeBinding(patient, provider identity.ID, epoch uint64) []byte {
	ad := append([]byte(scopeAD), patient[:]...)
	ad = append(ad, provider[:]...)
	return append(ad, be64(epoch)...)
}

// SealScope seals, under the grant's key, the keys of the vital signs in
// scope (valid kinds) of patient's epoch for provider.
func SealScope(epochKey SessionKey, patient, provider identity.ID, epoch uint64, scope []vital.Kind) ([]byte, error) {
	if epochKey.IsZero() {
		return nil, fmt.Errorf("envelope: seal scope: %w", ErrZeroKey)
	}
	pt := make([]byte, slots*(1+KeySize))
	for _, k := range scope {
		if !k.Valid() {
			return nil, fmt.Errorf("envelope: seal scope: %w: %d", vital.ErrUnknownKind, k)
		}
		i := int(k-1) * (1 + KeySize)
		kk := KindKey(epochKey, patient, epoch, k)
		pt[i] = 1
		copy(pt[i+1:], kk[:])
	}
	aead, err := scopeAEAD(GrantKey(epochKey, patient, provider, epoch))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, pt, scopeBinding(patient, provider, epoch)), nil
}

// OpenScope opens sealed scope keys (untrusted bytes, from the ledger) with
// the grant's key, and returns the keys by vital sign: the scope is their
// set. ErrScopeKeys if they do not open or decode.
func OpenScope(grantKey SessionKey, patient, provider identity.ID, epoch uint64, sealed []byte) (map[vital.Kind]SessionKey, error) {
	if len(sealed) != SealedScopeSize {
		return nil, fmt.Errorf("envelope: %w: %d bytes, want %d", ErrScopeKeys, len(sealed), SealedScopeSize)
	}
	aead, err := scopeAEAD(grantKey)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, sealed[:n], sealed[n:], scopeBinding(patient, provider, epoch))
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", ErrScopeKeys)
	}
	keys := map[vital.Kind]SessionKey{}
	for s := range slots {
		i := s * (1 + KeySize)
		switch pt[i] {
		case 0:
		case 1:
			k := SessionKey(pt[i+1 : i+1+KeySize])
			if k.IsZero() {
				return nil, fmt.Errorf("envelope: %w: a zero key", ErrScopeKeys)
			}
			keys[vital.Kind(s+1)] = k
		default:
			return nil, fmt.Errorf("envelope: %w: slot %d marked %d", ErrScopeKeys, s, pt[i])
		}
	}
	return keys, nil
}

// Scope returns the vital signs of opened scope keys, ascending.
func Scope(keys map[vital.Kind]SessionKey) []vital.Kind {
	var out []vital.Kind
	for _, k := range vital.Kinds() {
		if _, ok := keys[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

package envelope

import (
	"crypto/rand"
	"fmt"
)

// KeySize is the size of a session key in bytes.
const KeySize = 32

// SessionKey is an AES-256-GCM key. Its String and GoString methods do not
// print the key, so that it is not logged by accident.
type SessionKey [KeySize]byte

// NewSessionKey returns a new random session key.
func NewSessionKey() (SessionKey, error) {
	var k SessionKey
	if _, err := rand.Read(k[:]); err != nil {
		return SessionKey{}, fmt.Errorf("envelope: new session key: %w", err)
	}
	return k, nil
}

// IsZero reports whether k is all zeros, which is never a valid key.
func (k SessionKey) IsZero() bool { return k == SessionKey{} }

// String returns a placeholder, never the key.
func (k SessionKey) String() string { return "envelope.SessionKey(redacted)" }

// GoString returns a placeholder, never the key.
func (k SessionKey) GoString() string { return k.String() }

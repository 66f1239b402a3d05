package udp

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/overlay"
)

// The wire: every datagram is wireMagic, then the CBOR of an envelope,
// which carries the sender's Ed25519 public key (its identity key: the
// sender's ID is the key's hash), its counter, the payload's type and the
// payload (an overlay.Message's encoding, or a handoff's), signed by that
// key under the context signContext over
//
//	key (32 bytes) || counter (8 bytes, big-endian) || type (1 byte) || payload.

// wireMagic starts every datagram of this version of the wire.
var wireMagic = []byte("VCOV1")

// signContext is the signing context of overlay datagrams: a signature
// made for anything else (a transaction, an attestation) is never one of a
// datagram.
const signContext = "overlay/v1"

// Payload types.
const (
	typeMessage uint8 = 1 // an overlay.Message
	typeHandoff uint8 = 2 // a handoff
)

// maxDatagram bounds a datagram: an overlay message of the largest size,
// and the envelope around it.
const maxDatagram = overlay.MaxMessageSize + 256

// Reasons a datagram is refused, each wrapped with detail. Runner.Stats
// counts them, one count each.
var (
	// ErrMalformed: not a datagram of this wire (magic, CBOR, sizes,
	// payload) or a payload that does not decode.
	ErrMalformed = errors.New("malformed overlay datagram")
	// ErrUnknownKey: the sender's key is not one of a member of this
	// node's cluster on the ledger (as last read), or the payload names
	// another sender than the key's ID.
	ErrUnknownKey = errors.New("overlay datagram from an unknown key")
	// ErrNotEligible: the payload claims a role that only an
	// authority-eligible member may have (eligible, head, a head's
	// handoff), and the ledger does not list the key as one in this
	// node's cluster.
	ErrNotEligible = errors.New("overlay datagram claims eligibility for a key that is not eligible")
	// ErrBadSignature: the signature is not the key's over the datagram.
	ErrBadSignature = errors.New("overlay datagram with a bad signature")
	// ErrReplayed: the counter is not above the highest accepted from the
	// sender (a replay, a duplicate or a stale datagram), or the datagram
	// is this node's own.
	ErrReplayed = errors.New("overlay datagram replayed or stale")
)

// envelope is a datagram after its magic.
type envelope struct {
	Key     []byte `cbor:"1,keyasint"`
	Counter uint64 `cbor:"2,keyasint"`
	Type    uint8  `cbor:"3,keyasint"`
	Payload []byte `cbor:"4,keyasint"`
	Sig     []byte `cbor:"5,keyasint"`
}

// signed returns the bytes that e's signature signs (before the context).
func (e *envelope) signed() []byte {
	b := make([]byte, 0, len(e.Key)+9+len(e.Payload))
	b = append(b, e.Key...)
	b = binary.BigEndian.AppendUint64(b, e.Counter)
	b = append(b, e.Type)
	return append(b, e.Payload...)
}

// seal returns the datagram of payload p of type typ, signed by key with
// counter ctr.
func seal(key *identity.SigningKey, ctr uint64, typ uint8, p []byte) ([]byte, error) {
	e := envelope{Key: key.Public().Bytes(), Counter: ctr, Type: typ, Payload: p}
	e.Sig = key.SignContext(signContext, e.signed())
	b, err := codec.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("overlay datagram: %w", err)
	}
	if len(wireMagic)+len(b) > maxDatagram {
		return nil, fmt.Errorf("overlay datagram of %d bytes, limit %d", len(wireMagic)+len(b), maxDatagram)
	}
	return append(append(make([]byte, 0, len(wireMagic)+len(b)), wireMagic...), b...), nil
}

// openEnvelope decodes a datagram from untrusted bytes and checks its form
// (not its signature): the magic, the canonical CBOR, a valid Ed25519 key,
// a counter above zero, a known type, a signature of the right size.
func openEnvelope(b []byte) (envelope, identity.ID, error) {
	var e envelope
	bad := func(format string, a ...any) (envelope, identity.ID, error) {
		return envelope{}, identity.ID{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) > maxDatagram {
		return bad("%d bytes, limit %d", len(b), maxDatagram)
	}
	body, ok := bytes.CutPrefix(b, wireMagic)
	if !ok {
		return bad("no %q magic (an unsigned or older datagram)", wireMagic)
	}
	if err := codec.UnmarshalLimit(body, maxDatagram, &e); err != nil {
		return bad("%v", err)
	}
	if err := identity.CheckPublicKey(e.Key); err != nil {
		return bad("sender key: %v", err)
	}
	if e.Counter == 0 {
		return bad("counter 0")
	}
	if e.Type != typeMessage && e.Type != typeHandoff {
		return bad("unknown payload type %d", e.Type)
	}
	if len(e.Sig) != ed25519.SignatureSize {
		return bad("signature of %d bytes", len(e.Sig))
	}
	vk, err := identity.NewVerifyingKey(identity.RoleAuthority, e.Key) // the role is not part of the ID
	if err != nil {
		return bad("sender key: %v", err)
	}
	return e, vk.ID(), nil
}

// verify checks e's signature by its key.
func (e *envelope) verify() error {
	if err := identity.VerifyContext(e.Key, signContext, e.signed(), e.Sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// datagram is a datagram that passed the gate: its sender and its payload,
// a message or a handoff.
type datagram struct {
	from    identity.ID
	counter uint64
	msg     *overlay.Message
	handoff *handoff
}

// gate checks the datagrams a Runner receives, in order of cost: form,
// membership, the payload's sender and claims, signature, counter. It
// remembers the highest counter accepted from each sender, for members of
// the cluster only, so its memory is bounded by the membership's. It is
// owned by the receiving goroutine; the membership is swapped in by the
// driver.
type gate struct {
	me      identity.ID
	members func() *membership
	last    map[identity.ID]uint64
}

func newGate(me identity.ID, members func() *membership) *gate {
	return &gate{me: me, members: members, last: map[identity.ID]uint64{}}
}

// open returns the datagram b if it passes every check, or the reason it
// is refused: an error wrapping one of ErrMalformed, ErrUnknownKey,
// ErrNotEligible, ErrBadSignature, ErrReplayed or errBadHandoff.
func (g *gate) open(b []byte) (datagram, error) {
	e, from, err := openEnvelope(b)
	if err != nil {
		return datagram{}, err
	}
	if from == g.me {
		return datagram{}, fmt.Errorf("%w: from this node itself", ErrReplayed)
	}
	ms := g.members()
	eligible, member := ms.lookup(from)
	if !member {
		return datagram{}, fmt.Errorf("%w: %s is not a member of cluster %d as the ledger was last read", ErrUnknownKey, from, ms.clusterNum())
	}
	d := datagram{from: from, counter: e.Counter}
	switch e.Type {
	case typeMessage:
		m, err := overlay.DecodeMessage(e.Payload)
		if err != nil {
			return datagram{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if m.From != from {
			return datagram{}, fmt.Errorf("%w: message from %s signed by the key of %s", ErrUnknownKey, m.From, from)
		}
		if m.Eligible && !eligible { // a head is eligible too (Message.Validate)
			return datagram{}, fmt.Errorf("%w: %s claims to be eligible (role %s)", ErrNotEligible, from, m.Role)
		}
		d.msg = &m
	case typeHandoff:
		h, err := parseHandoff(e.Payload, g.me)
		if err != nil {
			return datagram{}, err
		}
		if h.Statement.OldHead != from {
			return datagram{}, fmt.Errorf("%w: handoff by %s signed by the key of %s", ErrUnknownKey, h.Statement.OldHead, from)
		}
		if !eligible {
			return datagram{}, fmt.Errorf("%w: handoff from %s", ErrNotEligible, from)
		}
		d.handoff = &h
	}
	if err := e.verify(); err != nil {
		return datagram{}, err
	}
	if last := g.last[from]; e.Counter <= last {
		return datagram{}, fmt.Errorf("%w: counter %d from %s, %d accepted before", ErrReplayed, e.Counter, from, last)
	}
	if _, ok := g.last[from]; !ok && len(g.last) >= maxMembers {
		// Forget the senders that are no longer members: the table holds
		// members only, so it is now within maxMembers.
		for id := range g.last {
			if _, ok := ms.lookup(id); !ok {
				delete(g.last, id)
			}
		}
	}
	g.last[from] = e.Counter
	return d, nil
}

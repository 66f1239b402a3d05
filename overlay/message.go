package overlay

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vitalchain/vitalchain/codec"
)

// Kind says why a message was sent. Every message carries the sender's whole
// state, so a receiver learns the same from any kind.
type Kind uint8

const (
	// KindHello is the periodic beacon: the sender's neighbour list and
	// state; from a head it is the heartbeat, with the successor list.
	KindHello Kind = 1
	// KindAnnounce says the sender became a head.
	KindAnnounce Kind = 2
	// KindJoin says the sender joined the head named in To.
	KindJoin Kind = 3
	// KindLeave says the sender left its role: a head resigned or a member
	// lost its cluster.
	KindLeave Kind = 4
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindHello:
		return "hello"
	case KindAnnounce:
		return "announce"
	case KindJoin:
		return "join"
	case KindLeave:
		return "leave"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Role is a node's place in the overlay.
type Role uint8

const (
	// RoleUndecided: still electing, or re-electing after losing its head.
	RoleUndecided Role = 0
	// RoleHead: the head of a cluster.
	RoleHead Role = 1
	// RoleMember: a member of the cluster of a neighbouring head.
	RoleMember Role = 2
	// RoleUnclustered: a node that may not be head and has no head in reach.
	RoleUnclustered Role = 3
)

// String names the role.
func (r Role) String() string {
	switch r {
	case RoleUndecided:
		return "undecided"
	case RoleHead:
		return "head"
	case RoleMember:
		return "member"
	case RoleUnclustered:
		return "unclustered"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Limits of a message.
const (
	// MaxNeighbours bounds a HELLO's neighbour list and a node's table.
	MaxNeighbours = 256
	// MaxSuccessors bounds a heartbeat's successor list.
	MaxSuccessors = 8
	// MaxMessageSize bounds an encoded message, in bytes.
	MaxMessageSize = 16 << 10
)

// Errors of DecodeMessage, Message.Validate and Node.Step, each wrapped with
// detail.
var (
	ErrInvalidMessage = errors.New("invalid overlay message")
	ErrFromSelf       = errors.New("overlay message from this node itself")
	ErrTableFull      = errors.New("overlay neighbour table full")
)

// Message is what nodes broadcast to their radio (or overlay) neighbours.
// Every message carries its sender's state; Seq orders one sender's
// messages, so a receiver keeps the newest state whatever the delivery
// order. Zero fields are left out of the encoding.
type Message struct {
	Kind Kind `cbor:"1,keyasint"`
	From ID   `cbor:"2,keyasint"`
	// Seq increases with every message of the sender: its Incarnation in
	// the high 32 bits, a counter in the low 32 bits.
	Seq uint64 `cbor:"3,keyasint"`
	// To is the head that a KindJoin joins; zero otherwise.
	To       ID   `cbor:"4,keyasint,omitzero"`
	Eligible bool `cbor:"5,keyasint,omitzero"`
	Role     Role `cbor:"6,keyasint,omitzero"`
	// Head is the sender's head (itself when it is a head), Cluster and
	// Epoch its cluster and the cluster's epoch: the number of heads the
	// cluster has had.
	Head    ID        `cbor:"7,keyasint,omitzero"`
	Cluster ClusterID `cbor:"8,keyasint,omitzero"`
	Epoch   uint64    `cbor:"9,keyasint,omitzero"`
	// Size is the number of nodes in a head's cluster, itself included.
	Size uint16 `cbor:"10,keyasint,omitzero"`
	// Measured says Rho and Degree are set (after the first HELLO rounds).
	Measured bool   `cbor:"11,keyasint,omitzero"`
	Rho      uint32 `cbor:"12,keyasint,omitzero"`
	Degree   uint16 `cbor:"13,keyasint,omitzero"`
	// Neighbours (KindHello only) lists the sender's neighbours in
	// ascending order.
	Neighbours []ID `cbor:"14,keyasint,omitempty"`
	// Successors (heads only) ranks the members that take over the cluster
	// if the head falls silent.
	Successors []ID `cbor:"15,keyasint,omitempty"`
	// Cover (eligible senders) is Key.Cover; Eligibles (senders that may
	// not be heads) counts the sender's eligible neighbours.
	Cover     uint16 `cbor:"16,keyasint,omitzero"`
	Eligibles uint16 `cbor:"17,keyasint,omitzero"`
}

// Encode validates the message and returns its deterministic CBOR encoding.
func (m *Message) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return codec.Marshal(m)
}

// DecodeMessage decodes and validates a message received from the network.
// It accepts at most MaxMessageSize bytes and only the canonical encoding.
func DecodeMessage(b []byte) (Message, error) {
	var m Message
	if err := codec.UnmarshalLimit(b, MaxMessageSize, &m); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Validate checks that the message is well formed: a known kind and role,
// fields consistent with the role, sorted distinct neighbours, bounded lists.
func (m *Message) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, a...))
	}
	var zero ID
	if m.Kind < KindHello || m.Kind > KindLeave {
		return bad("unknown kind %d", m.Kind)
	}
	if m.From == zero {
		return bad("zero sender")
	}
	switch m.Role {
	case RoleHead:
		if !m.Eligible {
			return bad("head not eligible")
		}
		if m.Head != m.From {
			return bad("head %s names another head %s", m.From, m.Head)
		}
	case RoleMember:
		if m.Head == zero || m.Head == m.From {
			return bad("member without another node as head")
		}
	case RoleUndecided, RoleUnclustered:
		if m.Head != zero || !m.Cluster.IsZero() || m.Epoch != 0 {
			return bad("%s with a head or cluster", m.Role)
		}
		if m.Role == RoleUnclustered && m.Eligible {
			return bad("eligible node unclustered")
		}
	default:
		return bad("unknown role %d", m.Role)
	}
	if (m.Role == RoleHead || m.Role == RoleMember) && (m.Cluster.IsZero() || m.Epoch == 0) {
		return bad("%s without cluster or epoch", m.Role)
	}
	if m.Role != RoleHead && (m.Size != 0 || len(m.Successors) != 0) {
		return bad("size or successors from a %s", m.Role)
	}
	if m.Role == RoleHead && m.Size == 0 {
		return bad("head with size 0")
	}
	if m.Size > MaxNeighbours+1 {
		return bad("size %d over %d", m.Size, MaxNeighbours+1)
	}
	switch m.Kind {
	case KindAnnounce:
		if m.Role != RoleHead {
			return bad("announce from a %s", m.Role)
		}
	case KindJoin:
		if m.Role != RoleMember || m.To != m.Head {
			return bad("join not addressed to the sender's head")
		}
	}
	if m.Kind != KindJoin && m.To != zero {
		return bad("%s with a destination", m.Kind)
	}
	if !m.Measured && (m.Rho != 0 || m.Degree != 0) {
		return bad("density without the measured flag")
	}
	if m.Degree > MaxNeighbours || m.Rho > Rho(int(m.Degree), int(m.Degree)*int(m.Degree)) {
		return bad("density %d of degree %d out of range", m.Rho, m.Degree)
	}
	if m.Cover > m.Degree || m.Eligibles > m.Degree || (m.Eligible && m.Eligibles != 0) || (!m.Eligible && m.Cover != 0) {
		return bad("cover %d or eligibles %d out of range", m.Cover, m.Eligibles)
	}
	if m.Kind != KindHello && len(m.Neighbours) != 0 {
		return bad("neighbour list in a %s", m.Kind)
	}
	if len(m.Neighbours) > MaxNeighbours {
		return bad("%d neighbours, limit %d", len(m.Neighbours), MaxNeighbours)
	}
	for i, n := range m.Neighbours {
		if n == m.From || n == zero {
			return bad("neighbour list names the sender or a zero ID")
		}
		if i > 0 && compareID(m.Neighbours[i-1], n) >= 0 {
			return bad("neighbour list not strictly ascending")
		}
	}
	if len(m.Successors) > MaxSuccessors {
		return bad("%d successors, limit %d", len(m.Successors), MaxSuccessors)
	}
	for i, s := range m.Successors {
		if s == m.From || s == zero || slices.Contains(m.Successors[:i], s) {
			return bad("successor list names the sender, a zero ID or a node twice")
		}
	}
	return nil
}

package overlay_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/overlay"
)

func sampleMessages() []overlay.Message {
	a, b, c := idFor(1), idFor(2), idFor(3)
	var cl overlay.ClusterID
	cl[0] = 7
	return []overlay.Message{
		{Kind: overlay.KindHello, From: a, Seq: 1},
		{Kind: overlay.KindHello, From: a, Seq: 1<<32 | 9, Eligible: true, Measured: true, Rho: 3 * overlay.RhoOne, Degree: 2, Neighbours: []overlay.ID{b, c}},
		{Kind: overlay.KindAnnounce, From: a, Seq: 2, Eligible: true, Role: overlay.RoleHead, Head: a, Cluster: cl, Epoch: 1, Size: 1},
		{Kind: overlay.KindHello, From: a, Seq: 3, Eligible: true, Role: overlay.RoleHead, Head: a, Cluster: cl, Epoch: 4, Size: 3, Successors: []overlay.ID{c, b}, Neighbours: []overlay.ID{b, c}},
		{Kind: overlay.KindJoin, From: b, Seq: 2, To: a, Role: overlay.RoleMember, Head: a, Cluster: cl, Epoch: 1},
		{Kind: overlay.KindLeave, From: b, Seq: 3, Role: overlay.RoleUnclustered},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		got, err := overlay.DecodeMessage(b)
		if err != nil {
			t.Fatalf("%+v: decode: %v", m, err)
		}
		again, err := got.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%+v: re-encoding differs (%v)", m, err)
		}
	}
	// A HELLO of a node with ten neighbours stays small.
	m := overlay.Message{Kind: overlay.KindHello, From: idFor(0), Seq: 1 << 40, Eligible: true, Measured: true, Rho: 12345, Degree: 10}
	for i := range 10 {
		m.Neighbours = append(m.Neighbours, idFor(i+1))
	}
	if b, _ := m.Encode(); len(b) > 400 {
		t.Errorf("a HELLO with 10 neighbours takes %d bytes", len(b))
	}
}

func TestMessageInvalid(t *testing.T) {
	a, b := idFor(1), idFor(2)
	var cl overlay.ClusterID
	cl[0] = 1
	head := overlay.Message{Kind: overlay.KindHello, From: a, Seq: 1, Eligible: true, Role: overlay.RoleHead, Head: a, Cluster: cl, Epoch: 1, Size: 1}
	with := func(f func(m *overlay.Message)) overlay.Message {
		m := head
		f(&m)
		return m
	}
	for _, tc := range []struct {
		name string
		m    overlay.Message
	}{
		{"unknown kind", with(func(m *overlay.Message) { m.Kind = 0 })},
		{"zero sender", with(func(m *overlay.Message) { m.From = overlay.ID{}; m.Head = overlay.ID{} })},
		{"unknown role", with(func(m *overlay.Message) { m.Role = 9 })},
		{"head not eligible", with(func(m *overlay.Message) { m.Eligible = false })},
		{"head naming another head", with(func(m *overlay.Message) { m.Head = b })},
		{"head without cluster", with(func(m *overlay.Message) { m.Cluster = overlay.ClusterID{} })},
		{"head without epoch", with(func(m *overlay.Message) { m.Epoch = 0 })},
		{"head of size 0", with(func(m *overlay.Message) { m.Size = 0 })},
		{"size too large", with(func(m *overlay.Message) { m.Size = overlay.MaxNeighbours + 2 })},
		{"member of itself", with(func(m *overlay.Message) { m.Role = overlay.RoleMember; m.Size = 0 })},
		{"member with successors", with(func(m *overlay.Message) {
			m.Role, m.Head, m.Size, m.Successors = overlay.RoleMember, b, 0, []overlay.ID{b}
		})},
		{"undecided with a cluster", with(func(m *overlay.Message) { m.Role, m.Head, m.Size = overlay.RoleUndecided, overlay.ID{}, 0 })},
		{"eligible unclustered", overlay.Message{Kind: overlay.KindHello, From: a, Seq: 1, Eligible: true, Role: overlay.RoleUnclustered}},
		{"announce from a member", overlay.Message{Kind: overlay.KindAnnounce, From: b, Seq: 1, Role: overlay.RoleMember, Head: a, Cluster: cl, Epoch: 1}},
		{"join to another head", overlay.Message{Kind: overlay.KindJoin, From: b, Seq: 1, To: idFor(5), Role: overlay.RoleMember, Head: a, Cluster: cl, Epoch: 1}},
		{"hello with a destination", with(func(m *overlay.Message) { m.To = b })},
		{"density unflagged", with(func(m *overlay.Message) { m.Rho = 5 })},
		{"density above 2 x degree", with(func(m *overlay.Message) { m.Measured, m.Degree, m.Rho = true, 2, 4*overlay.RhoOne+1 })},
		{"degree too large", with(func(m *overlay.Message) { m.Measured, m.Degree = true, overlay.MaxNeighbours+1 })},
		{"neighbours in an announce", with(func(m *overlay.Message) { m.Kind, m.Neighbours = overlay.KindAnnounce, []overlay.ID{b} })},
		{"neighbours unsorted", with(func(m *overlay.Message) { m.Neighbours = []overlay.ID{idFor(3), b} })},
		{"neighbours repeated", with(func(m *overlay.Message) { m.Neighbours = []overlay.ID{b, b} })},
		{"neighbours naming the sender", with(func(m *overlay.Message) { m.Neighbours = []overlay.ID{a} })},
		{"too many neighbours", with(func(m *overlay.Message) {
			for i := range overlay.MaxNeighbours + 1 {
				m.Neighbours = append(m.Neighbours, manyID(i))
			}
		})},
		{"successor twice", with(func(m *overlay.Message) { m.Successors = []overlay.ID{b, b} })},
		{"successor is the sender", with(func(m *overlay.Message) { m.Successors = []overlay.ID{a} })},
		{"too many successors", with(func(m *overlay.Message) {
			for i := range overlay.MaxSuccessors + 1 {
				m.Successors = append(m.Successors, manyID(i))
			}
		})},
	} {
		if err := tc.m.Validate(); !errors.Is(err, overlay.ErrInvalidMessage) {
			t.Errorf("%s: Validate = %v, want ErrInvalidMessage", tc.name, err)
		}
		if _, err := tc.m.Encode(); err == nil {
			t.Errorf("%s: encoded", tc.name)
		}
	}
}

func TestDecodeMessageRefuses(t *testing.T) {
	good, err := sampleMessages()[1].Encode()
	if err != nil {
		t.Fatal(err)
	}
	type raw struct {
		Kind  uint8  `cbor:"1,keyasint"`
		From  []byte `cbor:"2,keyasint"`
		Seq   uint64 `cbor:"3,keyasint"`
		Extra int    `cbor:"99,keyasint"`
	}
	short, _ := codec.Marshal(raw{Kind: 1, From: []byte{1, 2, 3}, Seq: 1})
	zeroRole, _ := codec.Marshal(struct {
		Kind uint8    `cbor:"1,keyasint"`
		From [32]byte `cbor:"2,keyasint"`
		Seq  uint64   `cbor:"3,keyasint"`
		Role uint8    `cbor:"6,keyasint"`
	}{1, idFor(1), 1, 0})
	unknown, _ := codec.Marshal(raw{Kind: 1, From: bytes.Repeat([]byte{1}, 32), Seq: 1, Extra: 1})
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-3]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"too large", make([]byte, overlay.MaxMessageSize+1)},
		{"short ID", short},
		{"zero field written out", zeroRole},
		{"unknown field", unknown},
		{"not a map", []byte{0x01}},
	} {
		if _, err := overlay.DecodeMessage(tc.b); !errors.Is(err, overlay.ErrInvalidMessage) {
			t.Errorf("%s: DecodeMessage = %v, want ErrInvalidMessage", tc.name, err)
		}
	}
}

// FuzzDecodeMessage: untrusted bytes never panic the decoder, and whatever
// it accepts is valid, re-encodes to the same bytes, and a node can Step it.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x01})
	n, err := overlay.New(overlay.Config{ID: idFor(0), Eligible: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := overlay.DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, overlay.ErrInvalidMessage) {
				t.Fatalf("error %v is not ErrInvalidMessage", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid message: %v", err)
		}
		again, err := m.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical encoding (%v):\n  in %x\n out %x", err, b, again)
		}
		_ = n.Step(m)
		n.Tick()
		n.Ready()
	})
}

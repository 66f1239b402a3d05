package udp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

// wireWorld is a cluster as a gate sees it, with keys from fixed seeds (so
// that fuzz seeds stay meaningful): this node (me), its head and a standby
// (both eligible), a patient (a member, not eligible) and an outsider (no
// member).
type wireWorld struct {
	me, head, standby, patient, outsider *identity.SigningKey
	ms                                   *membership
}

func newWireWorld(t testing.TB) *wireWorld {
	t.Helper()
	key := func(role identity.Role, seed byte) *identity.SigningKey {
		k, err := identity.NewSigningKey(role, bytes.Repeat([]byte{seed}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	w := &wireWorld{
		me: key(identity.RoleAuthority, 1), head: key(identity.RoleAuthority, 2), standby: key(identity.RoleAuthority, 3),
		patient: key(identity.RolePatient, 4), outsider: key(identity.RoleAuthority, 5),
	}
	w.ms = &membership{cluster: 4, known: true, self: identity.RoleAuthority, members: map[identity.ID]bool{
		id(w.me): true, id(w.head): true, id(w.standby): true, id(w.patient): false,
	}}
	return w
}

func id(k *identity.SigningKey) identity.ID { return k.Public().ID() }

func (w *wireWorld) gate() *gate { return newGate(id(w.me), func() *membership { return w.ms }) }

// hello is a HELLO from k: a head's if head, else an undecided node's.
func hello(from identity.ID, eligible, head bool) overlay.Message {
	m := overlay.Message{Kind: overlay.KindHello, From: from, Seq: 1 << 32, Eligible: eligible}
	if head {
		m.Role, m.Head, m.Cluster, m.Epoch, m.Size = overlay.RoleHead, from, overlay.ClusterID{7}, 1, 1
	}
	return m
}

func encode(t testing.TB, m overlay.Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sealed(t testing.TB, k *identity.SigningKey, ctr uint64, typ uint8, p []byte) []byte {
	t.Helper()
	b, err := seal(k, ctr, typ, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelopeBytes returns e as a datagram, signature as it is.
func envelopeBytes(t testing.TB, e envelope) []byte {
	t.Helper()
	b, err := codec.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	return append(bytes.Clone(wireMagic), b...)
}

// envelopeOf decodes a datagram sealed by seal.
func envelopeOf(t testing.TB, b []byte) envelope {
	t.Helper()
	e, _, err := openEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *wireWorld) handoffPayload(t testing.TB, old *identity.SigningKey, to identity.ID) []byte {
	t.Helper()
	st := ledger.HandoverStatement{Cluster: 4, OldHead: id(old), NewHead: to}
	att, err := ledger.Attest(old, st)
	if err != nil {
		t.Fatal(err)
	}
	b, err := marshalHandoff(&handoff{Statement: st, Attestation: att})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every reason a gate refuses a datagram, and what it accepts: each case
// is a fresh gate given the datagrams in order; the last one's outcome is
// checked.
func TestGate(t *testing.T) {
	w := newWireWorld(t)
	standbyHello := encode(t, hello(id(w.standby), true, true))
	good := sealed(t, w.standby, 10, typeMessage, standbyHello)
	tamper := func(b []byte, f func(*envelope)) []byte {
		e := envelopeOf(t, b)
		f(&e)
		return envelopeBytes(t, e)
	}
	weak := make([]byte, 32) // the all-zero encoding: a point of small order
	for _, tc := range []struct {
		name string
		in   [][]byte
		ms   *membership // nil: w.ms
		want error       // nil: accepted
	}{
		{"a head's HELLO", [][]byte{good}, nil, nil},
		{"a member's HELLO", [][]byte{sealed(t, w.patient, 1, typeMessage, encode(t, hello(id(w.patient), false, false)))}, nil, nil},
		{"the old head's handoff to this node", [][]byte{sealed(t, w.head, 1, typeHandoff, w.handoffPayload(t, w.head, id(w.me)))}, nil, nil},
		{"a later counter", [][]byte{good, sealed(t, w.standby, 11, typeMessage, standbyHello)}, nil, nil},

		{"empty", [][]byte{nil}, nil, ErrMalformed},
		{"an unsigned overlay message (the old wire)", [][]byte{standbyHello}, nil, ErrMalformed},
		{"garbage after the magic", [][]byte{append(bytes.Clone(wireMagic), 0xff, 0x00)}, nil, ErrMalformed},
		{"truncated", [][]byte{good[:len(good)-1]}, nil, ErrMalformed},
		{"trailing bytes", [][]byte{append(bytes.Clone(good), 0)}, nil, ErrMalformed},
		{"over the size limit", [][]byte{append(bytes.Clone(good), make([]byte, maxDatagram)...)}, nil, ErrMalformed},
		{"counter 0", [][]byte{tamper(good, func(e *envelope) { e.Counter = 0 })}, nil, ErrMalformed},
		{"unknown payload type", [][]byte{tamper(good, func(e *envelope) { e.Type = 9 })}, nil, ErrMalformed},
		{"short key", [][]byte{tamper(good, func(e *envelope) { e.Key = e.Key[:31] })}, nil, ErrMalformed},
		{"weak key", [][]byte{tamper(good, func(e *envelope) { e.Key = weak })}, nil, ErrMalformed},
		{"short signature", [][]byte{tamper(good, func(e *envelope) { e.Sig = e.Sig[:63] })}, nil, ErrMalformed},
		{"a payload that is no message", [][]byte{sealed(t, w.standby, 1, typeMessage, []byte{0xa0})}, nil, ErrMalformed},
		{"an invalid message", [][]byte{sealed(t, w.standby, 1, typeMessage, func() []byte {
			m := hello(id(w.standby), false, true) // a head not eligible
			b, _ := codec.Marshal(&m)
			return b
		}())}, nil, ErrMalformed},

		{"a key that is no member", [][]byte{sealed(t, w.outsider, 1, typeMessage, encode(t, hello(id(w.outsider), true, true)))}, nil, ErrUnknownKey},
		{"an outsider's key claiming a member's ID", [][]byte{sealed(t, w.outsider, 1, typeMessage, standbyHello)}, nil, ErrUnknownKey},
		{"a member's key claiming another member's ID", [][]byte{sealed(t, w.patient, 1, typeMessage, standbyHello)}, nil, ErrUnknownKey},
		{"a handoff by another than its signer", [][]byte{sealed(t, w.standby, 1, typeHandoff, w.handoffPayload(t, w.head, id(w.me)))}, nil, ErrUnknownKey},
		{"membership not read yet", [][]byte{good}, &membership{}, ErrUnknownKey},

		{"a member not eligible claiming to be", [][]byte{sealed(t, w.patient, 1, typeMessage, encode(t, hello(id(w.patient), true, false)))}, nil, ErrNotEligible},
		{"a member not eligible claiming to be head", [][]byte{sealed(t, w.patient, 1, typeMessage, encode(t, hello(id(w.patient), true, true)))}, nil, ErrNotEligible},
		{"a member not eligible handing off", [][]byte{sealed(t, w.patient, 1, typeHandoff, w.handoffPayload(t, w.patient, id(w.me)))}, nil, ErrNotEligible},

		{"a signature by another key", [][]byte{tamper(good, func(e *envelope) { e.Sig = w.outsider.SignContext(signContext, e.signed()) })}, nil, ErrBadSignature},
		{"a counter changed after signing", [][]byte{tamper(good, func(e *envelope) { e.Counter++ })}, nil, ErrBadSignature},
		{"a payload changed after signing", [][]byte{tamper(good, func(e *envelope) {
			m := hello(id(w.standby), true, true)
			m.Seq = ^uint64(0)
			e.Payload = encode(t, m)
		})}, nil, ErrBadSignature},
		{"a type changed after signing", [][]byte{tamper(sealed(t, w.head, 1, typeHandoff, w.handoffPayload(t, w.head, id(w.me))), func(e *envelope) { e.Type = typeMessage })}, nil, ErrMalformed},
		{"a signature under another context", [][]byte{tamper(good, func(e *envelope) { e.Sig = w.standby.SignContext("handover/v1", e.signed()) })}, nil, ErrBadSignature},

		{"the same datagram again", [][]byte{good, good}, nil, ErrReplayed},
		{"a lower counter", [][]byte{good, sealed(t, w.standby, 9, typeMessage, standbyHello)}, nil, ErrReplayed},
		{"this node's own datagram", [][]byte{sealed(t, w.me, 1, typeMessage, encode(t, hello(id(w.me), true, false)))}, nil, ErrReplayed},

		{"a handoff to another node", [][]byte{sealed(t, w.head, 1, typeHandoff, w.handoffPayload(t, w.head, id(w.standby)))}, nil, errBadHandoff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := w.gate()
			if tc.ms != nil {
				g.members = func() *membership { return tc.ms }
			}
			var err error
			for _, b := range tc.in {
				_, err = g.open(b)
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// A refused datagram leaves no trace: a forgery with a huge counter does
// not raise the counter a sender must beat.
func TestGateForgeryRaisesNoCounter(t *testing.T) {
	w := newWireWorld(t)
	g := w.gate()
	p := encode(t, hello(id(w.standby), true, true))
	forged := envelopeOf(t, sealed(t, w.standby, ^uint64(0), typeMessage, p))
	forged.Sig = w.outsider.SignContext(signContext, forged.signed())
	if _, err := g.open(envelopeBytes(t, forged)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forgery: %v", err)
	}
	if _, err := g.open(sealed(t, w.standby, 1, typeMessage, p)); err != nil {
		t.Fatalf("the sender's next datagram: %v", err)
	}
}

// The gate's memory of counters holds members only, within maxMembers.
func TestGateMemoryBounded(t *testing.T) {
	w := newWireWorld(t)
	g := w.gate()
	for i := range maxMembers + 10 {
		g.last[identity.ID{byte(i), byte(i >> 8), 0xee}] = 1 // senders no longer members
	}
	if _, err := g.open(sealed(t, w.standby, 1, typeMessage, encode(t, hello(id(w.standby), true, true)))); err != nil {
		t.Fatal(err)
	}
	if len(g.last) != 1 {
		t.Fatalf("%d counters remembered, want 1", len(g.last))
	}
}

// FuzzGate feeds the signed decoder untrusted bytes: it never panics,
// refuses with one of its reasons, and what it accepts is signed by a
// member's key, names that member, and is refused when it comes again.
func FuzzGate(f *testing.F) {
	w := newWireWorld(f)
	hello := encode(f, hello(id(w.standby), true, true))
	f.Add(sealed(f, w.standby, 1, typeMessage, hello))
	f.Add(sealed(f, w.patient, 2, typeMessage, encode(f, overlay.Message{Kind: overlay.KindHello, From: id(w.patient), Seq: 3})))
	f.Add(sealed(f, w.head, 3, typeHandoff, w.handoffPayload(f, w.head, id(w.me))))
	f.Add(sealed(f, w.outsider, 4, typeMessage, hello))
	f.Add(hello)
	f.Add(append(bytes.Clone(wireMagic), 0xa0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		g := w.gate()
		d, err := g.open(b)
		if err != nil {
			for _, want := range []error{ErrMalformed, ErrUnknownKey, ErrNotEligible, ErrBadSignature, ErrReplayed, errBadHandoff} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("refused without a reason: %v", err)
		}
		eligible, member := w.ms.lookup(d.from)
		if !member {
			t.Fatalf("accepted from %s, no member", d.from)
		}
		e, from, err := openEnvelope(b)
		if err != nil || from != d.from || e.verify() != nil {
			t.Fatalf("accepted a datagram that does not verify: %v", err)
		}
		switch {
		case d.msg != nil:
			if d.msg.From != d.from || d.msg.Eligible && !eligible {
				t.Fatalf("accepted %+v from %s", d.msg, d.from)
			}
		case d.handoff != nil:
			if d.handoff.Statement.OldHead != d.from || d.handoff.Statement.NewHead != id(w.me) || !eligible {
				t.Fatalf("accepted handoff %+v from %s", d.handoff, d.from)
			}
		default:
			t.Fatal("accepted an empty datagram")
		}
		if _, err := g.open(b); !errors.Is(err, ErrReplayed) {
			t.Fatalf("accepted again: %v", err)
		}
	})
}

// The cost of authentication per datagram: sealing (signing) a HELLO with
// 10 neighbours, and opening it (every check, the signature's included).
func BenchmarkSeal(b *testing.B) {
	w := newWireWorld(b)
	p := encode(b, benchHello(w))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := seal(w.standby, uint64(i+1), typeMessage, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGateOpen(b *testing.B) {
	w := newWireWorld(b)
	p := encode(b, benchHello(w))
	dgs := make([][]byte, 1024)
	for i := range dgs {
		dgs[i] = sealed(b, w.standby, uint64(i+1), typeMessage, p)
	}
	b.ReportAllocs()
	g := w.gate()
	for i := 0; b.Loop(); i++ {
		if i%len(dgs) == 0 {
			g = w.gate()
		}
		if _, err := g.open(dgs[i%len(dgs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p)), "message-bytes")
	b.ReportMetric(float64(len(dgs[0])-len(p)), "overhead-bytes")
}

// benchHello is a head's HELLO listing 10 neighbours.
func benchHello(w *wireWorld) overlay.Message {
	m := hello(id(w.standby), true, true)
	for i := range 10 {
		m.Neighbours = append(m.Neighbours, identity.ID{byte(i + 1)})
	}
	return m
}

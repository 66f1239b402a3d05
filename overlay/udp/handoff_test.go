package udp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

func FuzzParseHandoff(f *testing.F) {
	old, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	me := identity.ID{9}
	st := ledger.HandoverStatement{Cluster: 4, OldHead: old.ID(), NewHead: me}
	att, _ := ledger.Attest(old.Signing, st)
	good, _ := codec.Marshal(&handoff{Statement: st, Attestation: att})
	f.Add(good)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHandoff(b, me)
		if err != nil && !errors.Is(err, errBadHandoff) {
			t.Fatalf("error without the sentinel: %v", err)
		}
		if err == nil && (h.Statement.NewHead != me || h.Attestation.Authority != h.Statement.OldHead) {
			t.Fatalf("accepted %+v", h)
		}
	})
}

func TestParseHandoff(t *testing.T) {
	old, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	me := identity.ID{9}
	st := ledger.HandoverStatement{Cluster: 4, OldHead: old.ID(), NewHead: me}
	att, _ := ledger.Attest(old.Signing, st)
	enc := func(h handoff) []byte { b, _ := codec.Marshal(&h); return b }
	other := st
	other.NewHead = identity.ID{8}
	notOld := att
	notOld.Authority = identity.ID{7}
	big := att
	big.Sig = bytes.Repeat([]byte{1}, maxHandoffSize)
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"good", enc(handoff{Statement: st, Attestation: att}), true},
		{"to another node", enc(handoff{Statement: other, Attestation: att}), false},
		{"not by the old head", enc(handoff{Statement: st, Attestation: notOld}), false},
		{"over the size limit", enc(handoff{Statement: st, Attestation: big}), false},
		{"garbage", []byte("VCHANDOFF1 garbage"), false},
		{"empty", nil, false},
	} {
		if _, err := parseHandoff(tc.b, me); (err == nil) != tc.ok || (err != nil && !errors.Is(err, errBadHandoff)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// A handoff datagram starts with the magic, which tells it from an overlay
// message, and parses back after it.
func TestMarshalHandoff(t *testing.T) {
	old, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	me := identity.ID{9}
	st := ledger.HandoverStatement{Cluster: 4, OldHead: old.ID(), NewHead: me}
	att, _ := ledger.Attest(old.Signing, st)
	b, err := marshalHandoff(&handoff{Statement: st, Attestation: att})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, handoffMagic) {
		t.Fatalf("datagram %x lacks the magic", b)
	}
	h, err := parseHandoff(b[len(handoffMagic):], me)
	if err != nil || h.Statement != st || h.Attestation.Authority != att.Authority || !bytes.Equal(h.Attestation.Sig, att.Sig) {
		t.Fatalf("parsed %+v, %v", h, err)
	}
}

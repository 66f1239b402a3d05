package cloudapi

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

var testTime = time.UnixMilli(1_700_000_000_000)

func TestRequestRoundTrip(t *testing.T) {
	key, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{OpRead, OpAccess, OpAlerts, OpErase} {
		b, err := NewRequest(key, identity.ID{4}, op, [32]byte{9}, 3, testTime)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if r.Op != op || r.Requester != key.Public().ID() || r.Record != [32]byte{9} || r.From != 3 || r.Time != testTime.UnixMilli() {
			t.Fatalf("%s: parsed %+v", op, r)
		}
		msg, err := r.SignedBytes()
		if err != nil {
			t.Fatal(err)
		}
		if err := key.Public().VerifyContext(RequestContext, msg, r.Sig); err != nil {
			t.Fatalf("%s: the signature does not verify: %v", op, err)
		}
		r.From++
		msg, _ = r.SignedBytes()
		if err := key.Public().VerifyContext(RequestContext, msg, r.Sig); err == nil {
			t.Fatalf("%s: a changed request still verifies", op)
		}
	}
	bad := Request{Version: 1, Op: "delete"}
	bb, _ := codec.Marshal(&bad)
	for name, b := range map[string][]byte{"unknown op": bb, "garbage": {0xff}, "oversize": make([]byte, MaxRequestSize+1)} {
		if _, err := ParseRequest(b); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		}
	}
}

func TestPermanent(t *testing.T) {
	for _, tt := range []struct {
		code string
		want bool
	}{
		{CodeMalformed, true},
		{CodeTooLarge, true},
		{CodeBadSignature, true},
		{CodeBadHeader, true},
		{CodeWrongRole, true},
		{CodeUnknownSigner, false},
		{CodeWrongCluster, false},
		{CodeUnavailable, false},
		{CodeStore, false},
		{"", false},
		{"http", false},
		{"some_future_code", false},
		{"Malformed", false},
	} {
		if got := Permanent(tt.code); got != tt.want {
			t.Errorf("Permanent(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	key, err := identity.GenerateSigningKey(identity.RolePatient)
	if err != nil {
		f.Fatal(err)
	}
	for _, op := range []string{OpRead, OpAccess, OpAlerts, OpErase} {
		b, err := NewRequest(key, identity.ID{4}, op, [32]byte{1, 2, 3}, 7, testTime)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	subject := identity.ID{9}
	for _, op := range []string{OpAck, OpResolve, OpSnooze, OpEscalate, OpNoData, OpHeartbeat, OpStates} {
		b, err := NewSubjectRequest(key, identity.ID{4}, op, [32]byte{1, 2, 3}, 7, &subject, testTime)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			if r != nil {
				t.Fatal("a request with an error")
			}
			return
		}
		known := r.Op == OpRead || r.Op == OpAccess || r.Op == OpAlerts || r.Op == OpErase || lifecycleOps[r.Op]
		if r.Version != RequestVersion || !known || (len(r.Subject) != 0 && (len(r.Subject) != 32 || !lifecycleOps[r.Op])) {
			t.Fatalf("accepted %+v", r)
		}
		again, err := codec.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical encoding %x (canonical %x)", b, again)
		}
	})
}

// A subject belongs to the lifecycle's requests only, and is an ID.
func TestRequestSubject(t *testing.T) {
	key, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	subject := identity.ID{9}
	for _, tc := range []struct {
		op      string
		subject *identity.ID
		ok      bool
	}{
		{OpEscalate, &subject, true},
		{OpNoData, &subject, true},
		{OpAck, nil, true},
		{OpRead, &subject, false},
		{OpAlerts, &subject, false},
		{"delete", nil, false},
	} {
		b, err := NewSubjectRequest(key, identity.ID{4}, tc.op, [32]byte{1}, 0, tc.subject, testTime)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseRequest(b)
		if (err == nil) != tc.ok {
			t.Errorf("%s with subject %v: %v", tc.op, tc.subject != nil, err)
		}
		if err == nil && tc.subject != nil && identity.ID(r.Subject) != subject {
			t.Errorf("%s: subject %x", tc.op, r.Subject)
		}
	}
}

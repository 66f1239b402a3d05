package cloudapi

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestReceipt(t *testing.T) {
	cloud, _ := identity.GenerateSigningKey(identity.RoleCloud)
	other, _ := identity.GenerateSigningKey(identity.RoleCloud)
	r := Receipt{Cloud: cloud.Public().ID(), Stored: 1000, AnchorBy: 31000,
		Records: []ReceiptItem{{ID: [32]byte{3}, Index: 7}, {ID: [32]byte{1}, Index: 5}}}
	b, err := r.Sign(cloud)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReceipt(b, cloud.Public())
	if err != nil {
		t.Fatal(err)
	}
	if i, err := got.Index([32]byte{3}); err != nil || i != 7 {
		t.Fatalf("Index of record 3: %d, %v", i, err)
	}
	if _, err := got.Index([32]byte{2}); !errors.Is(err, ErrNotInReceipt) {
		t.Fatalf("a record not in it: %v", err)
	}
	forged := append([]byte(nil), b...)
	forged[len(forged)-1] ^= 1
	byOther, _ := Receipt{Cloud: cloud.Public().ID(), Records: r.Records}.Sign(other)
	for name, tc := range map[string]struct {
		b   []byte
		key identity.VerifyingKey
	}{
		"forged":            {forged, cloud.Public()},
		"signed by another": {byOther, cloud.Public()},
		"another cloud's":   {b, other.Public()},
		"garbage":           {[]byte{0x01}, cloud.Public()},
		"oversize":          {make([]byte, MaxReceiptSize+1), cloud.Public()},
	} {
		if _, err := ParseReceipt(tc.b, tc.key); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: %v, want ErrBadReceipt", name, err)
		}
	}
}

func FuzzParseReceipt(f *testing.F) {
	cloud, _ := identity.GenerateSigningKey(identity.RoleCloud)
	b, _ := Receipt{Cloud: cloud.Public().ID(), Records: []ReceiptItem{{ID: [32]byte{1}, Index: 1}}}.Sign(cloud)
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReceipt(b, cloud.Public())
		if err == nil && r.Cloud != cloud.Public().ID() {
			t.Fatalf("accepted a receipt of cloud %s", r.Cloud)
		}
	})
}

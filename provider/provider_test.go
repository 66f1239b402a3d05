package provider_test

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/provider"
)

func TestNewRefusesWhatIsNotAProvider(t *testing.T) {
	prov, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	pat, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	noDecryption := &identity.Identity{Signing: prov.Signing}
	chain := client.New(nil, nil) // never contacted by New
	cc := cloudapi.NewClient("http://127.0.0.1:1", nil)
	for _, tc := range []struct {
		name string
		cfg  provider.Config
		want error
	}{
		{"no key", provider.Config{Chain: chain, Cloud: cc}, identity.ErrBadKey},
		{"no decryption key", provider.Config{Key: noDecryption, Chain: chain, Cloud: cc}, identity.ErrBadKey},
		{"a patient's key", provider.Config{Key: pat, Chain: chain, Cloud: cc}, identity.ErrWrongRole},
		{"no ledger", provider.Config{Key: prov, Cloud: cc}, nil},
		{"no cloud", provider.Config{Key: prov, Chain: chain}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := provider.New(tc.cfg)
			if err == nil || p != nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
		})
	}
	p, err := provider.New(provider.Config{Key: prov, Chain: chain, Cloud: cc})
	if err != nil || p.ID() != prov.ID() {
		t.Fatalf("New: %v", err)
	}
}

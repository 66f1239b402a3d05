package cloud

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// New checks its key and the cloud's registration.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	provider := e.member(identity.RoleProvider, 1)
	unregistered, _ := identity.Generate(identity.RoleCloud, identity.SuiteX25519)
	misregistered, _ := identity.Generate(identity.RoleCloud, identity.SuiteX25519)
	e.led.set(func(l *fakeLedger) {
		m := *l.members[provider.ID()]
		l.members[misregistered.ID()] = &m // registered as a provider
	})
	for _, tc := range []struct {
		name string
		key  *identity.SigningKey
		err  error
		msg  string
	}{
		{"not a cloud key", provider.Signing, identity.ErrWrongRole, ""},
		{"not registered", unregistered.Signing, ErrNotFound, ""},
		{"registered with another role", misregistered.Signing, nil, "registered as a provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.cfg
			cfg.Key = tc.key
			s, err := New(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted it")
			}
			if tc.err != nil && !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("New: %v", err)
			}
		})
	}
	if e.svc.ID() != e.cloud.ID() {
		t.Fatal("ID")
	}
	// Closing twice is harmless.
	done := make(chan struct{})
	go func() { e.svc.Close(); e.svc.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	e.svc = nil
}

package gateway_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// An expired grant is treated like a revoke: the gateway starts a new epoch
// whose keys the expired provider never gets, and the providers whose
// grants are active get the new keys of their same scope.
func TestExpiredGrantRekeys(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	g := w.gatewayAt(t.TempDir(), nil, nil, now)
	defer g.Close()
	p := g.Patient()
	other := w.admit(w.head, identity.RoleProvider, identity.ID{})
	if err := p.Grant(ctx, w.provider.ID(), []vital.Kind{vital.HeartRate}, false, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	both := []vital.Kind{vital.Glucose, vital.HeartRate}
	if err := p.Grant(ctx, other.ID(), both, false, time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if scope, err := p.Scope(ctx, w.provider.ID()); err != nil || !slices.Equal(scope, []vital.Kind{vital.HeartRate}) {
		t.Fatalf("the patient reads back the scope %v: %v", scope, err)
	}
	if did, err := p.RekeyExpired(ctx); err != nil || did {
		t.Fatalf("nothing expired: rekeyed %v, %v", did, err)
	}

	mu.Lock()
	clock = clock.Add(time.Hour) // the first grant has expired
	mu.Unlock()
	if did, err := p.RekeyExpired(ctx); err != nil || !did {
		t.Fatalf("an expired grant: rekeyed %v, %v", did, err)
	}
	if p.Epoch() != 2 {
		t.Fatalf("epoch %d after the expiry, want 2", p.Epoch())
	}
	if _, err := w.cl.Envelope(ctx, w.patient.ID(), 2, w.provider.ID()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the expired provider's envelope of the new epoch: %v, want none", err)
	}
	if scope, err := p.Scope(ctx, other.ID()); err != nil || !slices.Equal(scope, both) {
		t.Fatalf("the active provider's scope in the new epoch %v: %v", scope, err)
	}
	if did, err := p.RekeyExpired(ctx); err != nil || did {
		t.Fatalf("the expired grant holds no key of the new epoch: rekeyed %v, %v", did, err)
	}
}

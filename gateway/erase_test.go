package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
)

type fakeEraser struct {
	by []identity.ID
}

func (e *fakeEraser) Erase(_ context.Context, key *identity.SigningKey) (*cloudapi.EraseResult, error) {
	e.by = append(e.by, key.Public().ID())
	return &cloudapi.EraseResult{Erased: 1}, nil
}

// An erasure is recorded on the ledger, which refuses the patient new
// grants from then on; the gateway destroys its epoch key and seals
// nothing more; the cloud is asked, with the patient's key.
func TestErase(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	g := w.gateway(t.TempDir(), nil, nil)
	defer g.Close()
	if err := g.HandleReading(ctx, w.reading(250)); err != nil {
		t.Fatal(err)
	}
	if g.Patient().Erased() {
		t.Fatal("erased before the erasure")
	}
	var e fakeEraser
	res, err := g.Patient().Erase(ctx, &e)
	if err != nil {
		t.Fatal(err)
	}
	if res.Erased != 1 || len(e.by) != 1 || e.by[0] != w.patient.ID() {
		t.Fatalf("the cloud was asked %v, answered %+v", e.by, res)
	}
	if !g.Patient().Erased() {
		t.Fatal("the epoch key survives the erasure")
	}
	if err := g.HandleReading(ctx, w.reading(260)); !errors.Is(err, gateway.ErrErased) {
		t.Fatalf("an abnormal reading after the erasure: %v, want ErrErased", err)
	}
	err = g.Patient().Grant(ctx, w.provider.ID(), []vital.Kind{vital.Glucose}, false, time.Now().Add(time.Hour))
	if !errors.Is(err, gateway.ErrErased) {
		t.Fatalf("a grant after the erasure: %v, want ErrErased", err)
	}
	// Asked again (the cloud was down, say), the ledger's erasure stands.
	if _, err := g.Patient().Erase(ctx, &e); err != nil || len(e.by) != 2 {
		t.Fatalf("a second erasure: %v", err)
	}
	// A grant made with a key kept elsewhere: the ledger refuses it.
	key, _ := envelope.NewSessionKey()
	env, err := envelope.GrantEnvelope(w.patient, w.provider.Public(), g.Patient().Epoch(), key)
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := env.Marshal()
	s, err := w.cl.Signer(ctx, w.patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := envelope.SealScope(key, w.patient.ID(), w.provider.ID(), g.Patient().Epoch(), []vital.Kind{vital.Glucose})
	_, err = s.Submit(ctx, &ledger.Grant{Provider: w.provider.ID(), Keys: keys,
		Expiry: time.Now().Add(time.Hour).UnixMilli(), Epoch: g.Patient().Epoch(), Envelope: eb})
	if !errors.Is(err, ledger.Rejected(ledger.CodeErased)) {
		t.Fatalf("a grant after the erasure: %v, want the ledger's CodeErased", err)
	}
}

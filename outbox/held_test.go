package outbox

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// holdingSender stores everything and holds it with a note of its ID.
type holdingSender struct{}

func (holdingSender) Send(_ context.Context, recs [][]byte) ([]Result, error) {
	res := make([]Result, len(recs))
	for i, r := range recs {
		res[i] = Result{Stored: true, Hold: append([]byte("note:"), r...)}
	}
	return res, nil
}

// A record the cloud acknowledged with a hold leaves the queue but stays,
// durably, until released; a requeued one is sent again.
func TestHeldUntilReleased(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	its := items(1, 0, 5)
	if err := o.Put(its...); err != nil {
		t.Fatal(err)
	}
	u := NewUploader(o, holdingSender{}, UploaderOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	if err := u.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 0 || o.HeldLen() != 5 {
		t.Fatalf("%d queued, %d held; want 0 and 5", o.Len(), o.HeldLen())
	}
	// Held survives a restart.
	cancel()
	<-done
	o.Close()
	o = open(t, dir, Options{})
	hs, err := o.HeldItems(10)
	if err != nil || len(hs) != 5 {
		t.Fatalf("held after reopening: %d, %v", len(hs), err)
	}
	for _, h := range hs {
		var it Item
		for _, x := range its {
			if x.ID == h.ID {
				it = x
			}
		}
		if !bytes.Equal(h.Data, it.Data) || !bytes.Equal(h.Hold, append([]byte("note:"), it.Data...)) || h.Enqueued == 0 {
			t.Fatalf("held item %x: data or hold differ", h.ID[:4])
		}
	}
	if err := o.Release(hs[0].ID, hs[1].ID, [32]byte{9}); err != nil {
		t.Fatal(err)
	}
	if err := o.Requeue(hs[2]); err != nil {
		t.Fatal(err)
	}
	if o.HeldLen() != 2 || o.Len() != 1 {
		t.Fatalf("after release and requeue: %d held, %d queued; want 2 and 1", o.HeldLen(), o.Len())
	}
	if q, _ := o.Peek(5); len(q) != 1 || q[0].ID != hs[2].ID || !bytes.Equal(q[0].Data, hs[2].Data) {
		t.Fatalf("the requeued item is not what was held: %+v", q)
	}
}

// Marks are written with the items they come with, or not at all, and
// survive a restart.
func TestMarks(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{MaxItems: 2})
	its := items(1, 0, 3)
	if err := o.PutMarked([]Mark{{Key: "seq/a", Value: []byte{1}}}, its[0]); err != nil {
		t.Fatal(err)
	}
	if err := o.PutMarked([]Mark{{Key: "seq/a", Value: []byte{2}}}, its[1], its[2]); err == nil {
		t.Fatal("a put over the bound succeeded")
	}
	if err := o.SetMarks(Mark{Key: "seq/b", Value: []byte{9}}, Mark{Key: "other", Value: []byte{7}}); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = open(t, dir, Options{MaxItems: 2})
	m, err := o.Marks("seq/")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || !bytes.Equal(m["seq/a"], []byte{1}) || !bytes.Equal(m["seq/b"], []byte{9}) {
		t.Fatalf("marks %v: want seq/a=1 (not the refused put's 2) and seq/b=9", m)
	}
	// A nil value removes its mark; an empty one is a value.
	if err := o.SetMarks(Mark{Key: "seq/a"}, Mark{Key: "seq/b", Value: []byte{}}); err != nil {
		t.Fatal(err)
	}
	if m, err = o.Marks("seq/"); err != nil || len(m) != 1 || len(m["seq/b"]) != 0 {
		t.Fatalf("marks %v (%v) after removing seq/a and emptying seq/b", m, err)
	}
}

// An item requeued can be sent again and held anew, under another hold,
// before Requeue forgets the old hold: the new one stays (the gateway
// otherwise lost track of a record a second cloud receipted).
func TestRequeueKeepsANewerHold(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	it := items(1, 0, 1)[0]
	mustPut(t, o, it)
	old := Held{Item: it, Hold: []byte("the liar's receipt")}
	if err := o.hold([]Held{old}); err != nil {
		t.Fatal(err)
	}
	// What a concurrent upload does between Requeue's put and its forgetting:
	// the item, queued again, is held under the honest cloud's receipt.
	newer := Held{Item: it, Hold: []byte("the honest cloud's receipt")}
	if err := o.hold([]Held{newer}); err != nil {
		t.Fatal(err)
	}
	if err := o.Requeue(old); err != nil {
		t.Fatal(err)
	}
	hs, err := o.HeldItems(10)
	if err != nil || len(hs) != 1 || !bytes.Equal(hs[0].Hold, newer.Hold) {
		t.Fatalf("held after requeueing the old hold: %+v, %v; want the newer hold kept", hs, err)
	}
	// The requeued copy is in the queue too: sent again, it is a duplicate
	// the cloud acknowledges, never a loss.
	if o.Len() != 1 {
		t.Fatalf("%d queued, want 1", o.Len())
	}
}

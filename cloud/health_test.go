package cloud

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReady(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.Ready(context.Background()); err != nil {
		t.Fatalf("a cloud on a working store: %v", err)
	}
	e.st.failNext(opSize, 1)
	if err := e.svc.Ready(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("a cloud whose store fails: %v", err)
	}
	if err := e.svc.Ready(context.Background()); err != nil {
		t.Fatalf("the store back: %v", err)
	}
}

func TestReadyWithALease(t *testing.T) {
	e := newEnv(t, leased("http://a"))
	eventually(t, "the lone process sequencing", e.svc.Sequencing)
	if err := e.svc.Ready(context.Background()); err != nil || !e.svc.Sequencing() {
		t.Fatalf("the sequencer: %v (sequencing %v)", err, e.svc.Sequencing())
	}
	f := e.second("http://b", time.Minute)
	eventually(t, "the follower knowing the sequencer", func() bool { return f.Leader() == "http://a" })
	if err := f.Ready(context.Background()); err != nil || f.Sequencing() {
		t.Fatalf("a follower that knows the sequencer: %v (sequencing %v)", err, f.Sequencing())
	}
	f.setLeader("") // as while an election runs
	if err := f.Ready(context.Background()); !errors.Is(err, ErrNoSequencer) {
		t.Fatalf("a follower that knows no sequencer: %v", err)
	}
}

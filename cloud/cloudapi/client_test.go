package cloudapi_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
)

// process is a fake cloud process: it answers uploads with one ack each,
// or refuses them not_leader naming leader (a pointer, so that processes
// can name each other).
type process struct {
	srv      *httptest.Server
	leads    bool
	leadFrom int32 // if not 0, it leads from its leadFrom-th request on (won an election)
	leader   *string
	requests atomic.Int32
}

func newProcess(t *testing.T, leads bool, leader *string) *process {
	return newProcessFrom(t, leads, 0, leader)
}

func newProcessFrom(t *testing.T, leads bool, leadFrom int32, leader *string) *process {
	p := &process{leads: leads, leadFrom: leadFrom, leader: leader}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.requests.Add(1)
		if !p.leads && (p.leadFrom == 0 || n < p.leadFrom) {
			b, _ := codec.Marshal(&cloudapi.Problem{Code: cloudapi.CodeNotLeader, Message: "not the sequencer", Leader: *p.leader})
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(b)
			return
		}
		b, _ := codec.Marshal(&cloudapi.UploadResponse{Acks: []cloudapi.Ack{{ID: [32]byte{1}, Index: 7}}})
		w.Write(b)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// deadURL is a URL where nothing listens: connections are refused.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func TestClientFollowsTheSequencer(t *testing.T) {
	ctx := context.Background()
	if cloudapi.Permanent(cloudapi.CodeNotLeader) {
		t.Fatal("not_leader is permanent: a gateway would drop records a process refused while the cloud changes hands")
	}
	var none string
	seq := newProcess(t, true, &none)
	follower := newProcess(t, false, &seq.srv.URL)

	// Given a follower only, the client follows its answer to the sequencer and stays there.
	c := cloudapi.NewClient(follower.srv.URL, nil)
	for range 2 {
		acks, err := c.Upload(ctx, [][]byte{{1}})
		if err != nil || len(acks) != 1 || acks[0].Index != 7 {
			t.Fatalf("upload through a follower: %+v, %v", acks, err)
		}
	}
	if c.Current() != seq.srv.URL || follower.requests.Load() != 1 {
		t.Fatalf("requests go to %s after %d to the follower; want the sequencer after 1", c.Current(), follower.requests.Load())
	}

	// A process that does not answer is passed over for the next URL.
	c = cloudapi.NewClient(deadURL(t)+", "+follower.srv.URL+"/", nil)
	if acks, err := c.Upload(ctx, [][]byte{{1}}); err != nil || len(acks) != 1 {
		t.Fatalf("upload past a dead process: %+v, %v", acks, err)
	}
	if c.Current() != seq.srv.URL {
		t.Fatalf("requests go to %s, want the sequencer", c.Current())
	}

	// Nobody sequences (an election under way): the client retries while
	// its context lets it, then the refusal comes back.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	lost := newProcess(t, false, &none)
	c = cloudapi.NewClient(lost.srv.URL+","+deadURL(t), nil)
	_, err := c.Upload(short, [][]byte{{1}})
	var re *cloudapi.RequestError
	if !errors.As(err, &re) || re.Code != cloudapi.CodeNotLeader || re.Status != http.StatusServiceUnavailable {
		t.Fatalf("upload with no sequencer: %v; want a not_leader refusal", err)
	}

	// An election under way, which this process then wins: the client
	// waits for it, sending the same upload again.
	winner := newProcessFrom(t, false, 3, &none)
	c = cloudapi.NewClient(winner.srv.URL, nil)
	if acks, err := c.Upload(ctx, [][]byte{{1}}); err != nil || len(acks) != 1 || winner.requests.Load() != 3 {
		t.Fatalf("upload during an election: %+v, %v after %d requests", acks, err, winner.requests.Load())
	}

	// Processes that name each other do not send the client round forever.
	var aURL, bURL string
	a := newProcess(t, false, &bURL)
	b := newProcess(t, false, &aURL)
	aURL, bURL = a.srv.URL, b.srv.URL
	c = cloudapi.NewClient(aURL, nil)
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Upload(short, [][]byte{{1}}); !errors.As(err, &re) || re.Code != cloudapi.CodeNotLeader {
		t.Fatalf("upload between processes naming each other: %v; want a not_leader refusal", err)
	}
	if n := a.requests.Load() + b.requests.Load(); n > 2*(cloudapi.MaxRetries+1) {
		t.Fatalf("%d requests between two processes naming each other", n)
	}

	// No process answers at all.
	c = cloudapi.NewClient(deadURL(t)+","+deadURL(t), nil)
	if _, err := c.Upload(ctx, [][]byte{{1}}); !errors.Is(err, cloudapi.ErrNoCloud) {
		t.Fatalf("upload with every process down: %v; want ErrNoCloud", err)
	}
	// A leader URL that is not HTTP is not followed.
	bad := "file:///etc/passwd"
	odd := newProcess(t, false, &bad)
	c = cloudapi.NewClient(odd.srv.URL, nil)
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Upload(short, [][]byte{{1}}); !errors.As(err, &re) || re.Code != cloudapi.CodeNotLeader || c.Current() != odd.srv.URL {
		t.Fatalf("a leader URL that is not HTTP: %v, current %s", err, c.Current())
	}
}

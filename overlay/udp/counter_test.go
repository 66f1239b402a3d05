package udp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/overlay"
)

// A node's counters and incarnations never repeat across restarts: after a
// clean stop, after a crash in the middle of a block (the counters left in
// the block are skipped), when it restarts within the same second, when
// its clock has gone back, and, as long as its clock has not, when its
// file was lost. Over a runner: a peer accepts every datagram of a node
// restarted with its counter file, and refuses none as replayed.
func TestCounterSurvivesRestart(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "overlay-counter")
		now := time.Unix(1_800_000_000, 0)
		var last uint64
		var lastInc uint32
		for i, step := range []struct {
			name  string
			now   time.Time
			take  int
			clean bool // Close, rather than crash
			lose  bool // the file is lost before this restart
		}{
			{"first start", now, 3, true, false},
			{"a clean restart in the same second", now, 20, true, false},
			{"a crash within a block", now, 5, false, false},
			{"a crash after the background reservations", now, 40, false, false},
			{"a restart with the clock gone back a day", now.Add(-24 * time.Hour), 3, true, false},
			{"a restart with the file lost, the clock an hour later", now.Add(time.Hour), 3, true, true},
		} {
			if step.lose {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
			c, err := openCounter(path, 8, func() time.Time { return step.now })
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			inc, err := c.Incarnation()
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if i > 0 && inc <= lastInc {
				t.Fatalf("%s: incarnation %d after %d", step.name, inc, lastInc)
			}
			lastInc = inc
			for range step.take {
				n, err := c.Next()
				if err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				if n <= last {
					t.Fatalf("%s: counter %d after %d", step.name, n, last)
				}
				last = n
				if reserved, _, err := readCounter(path); err != nil || reserved < n {
					t.Fatalf("%s: counter %d handed out, %d reserved on disk (%v)", step.name, n, reserved, err)
				}
			}
			if step.clean {
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				c.bg.Wait() // a crash: the reservation under way landed or not, as rename is atomic
			}
		}
	})

	t.Run("runner", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f := newFakeLedger()
		ids := authorities(t, 2)
		f.admit(ids[0], 4)
		f.admit(ids[1], 4)
		peer := startRunners(t, ctx, f, ids[0])[0]
		conn, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := conn.LocalAddr().String()
		file := counterFile(t)
		for i := range 3 {
			if i > 0 {
				if conn, err = Listen(addr); err != nil {
					t.Fatal(err)
				}
			}
			rctx, stop := context.WithCancel(ctx)
			r, err := Start(rctx, Config{Identity: ids[1], CounterFile: file, Ledger: f.as(ids[1]), Conn: conn,
				Peers: []*net.UDPAddr{peer.conn.LocalAddr().(*net.UDPAddr)}, Period: period})
			if err != nil {
				t.Fatal(err)
			}
			before := peer.Stats().Accepted
			waitFor(t, ctx, "the peer to accept 3 datagrams of the restarted node", func() bool { return peer.Stats().Accepted >= before+3 })
			stop()
			r.Wait()
			if st := peer.Stats(); st.Replayed != 0 {
				t.Fatalf("run %d: the peer refused %d datagrams as replayed", i, st.Replayed)
			}
		}
	})
}

// A counter file that is not one is refused, never guessed: guessing could
// reuse a counter.
func TestCounterFileRefused(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"another format", "v2 10 10\n"},
		{"a field missing", "v1 10\n"},
		{"not a number", "v1 ten 10\n"},
		{"an incarnation over 32 bits", "v1 10 4294967296\n"},
		{"no final newline (cut short)", "v1 10 1"},
	} {
		path := filepath.Join(t.TempDir(), "counter")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenCounter(path); !errors.Is(err, ErrCounterFile) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := OpenCounter(filepath.Join(t.TempDir(), "a-file", "counter")); err != nil {
		t.Errorf("a new file in a new directory: %v", err)
	}
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o600)
	if _, err := OpenCounter(filepath.Join(blocked, "counter")); !errors.Is(err, ErrCounterFile) {
		t.Errorf("a directory that is a file: %v", err)
	}
}

// A runner whose counter cannot be reserved sends nothing, and counts it.
func TestNoCounterNoDatagram(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "counter")
	c, err := openCounter(path, 2, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // waits for a reservation under way
	me, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n, _ := overlay.New(overlay.Config{ID: me.ID()})
	r := &Runner{me: me, id: me.ID(), counter: c, conn: conn, peers: []*net.UDPAddr{conn.LocalAddr().(*net.UDPAddr)}, node: n, log: slog.New(slog.DiscardHandler)}
	if !r.send(typeMessage, []byte{0xa0}) {
		t.Fatal("not sent with a counter reserved")
	}
	c.bg.Wait()
	if err := os.Mkdir(path+".tmp", 0o700); err != nil { // no more reservations: the temporary file cannot be made
		t.Fatal(err)
	}
	sent := 0
	for range 8 {
		if r.send(typeMessage, []byte{0xa0}) {
			sent++
		}
	}
	st := r.Stats()
	if st.SendFailed == 0 || uint64(sent) != st.Sent-1 {
		t.Fatalf("sent %d more, stats %+v", sent, st)
	}
}

// A closed counter hands out no more counters, and Next racing with Close
// is safe (run with -race).
func TestCounterClosed(t *testing.T) {
	c, err := openCounter(filepath.Join(t.TempDir(), "counter"), 4, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := c.Next(); err != nil {
				return
			}
		}
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, err := c.Next(); !errors.Is(err, ErrCounterFile) {
		t.Fatalf("Next after Close: %v", err)
	}
}

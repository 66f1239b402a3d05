package faults

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

func shaperWith(seed uint64) *shaper {
	return &shaper{rnd: rand.New(rand.NewPCG(seed, seed))}
}

func TestShaperDelayKeepsOrder(t *testing.T) {
	s := shaperWith(1)
	im := Impairment{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond}
	now := time.Unix(0, 0)
	prev := time.Time{}
	for i := range 1000 {
		at := s.at(now.Add(time.Duration(i)*time.Millisecond), 100, im)
		sent := now.Add(time.Duration(i) * time.Millisecond)
		if d := at.Sub(sent); d < 80*time.Millisecond {
			t.Fatalf("packet %d delivered %s after it was sent, want at least 80 ms", i, d)
		}
		if at.Before(prev) {
			t.Fatalf("packet %d delivered at %s, before packet %d at %s", i, at, i-1, prev)
		}
		prev = at
	}
	// Without a later packet to hold it back, the delay is at most 120 ms.
	if d := s.at(now.Add(time.Hour), 100, im).Sub(now.Add(time.Hour)); d > 120*time.Millisecond {
		t.Fatalf("an isolated packet waited %s, want at most 120 ms", d)
	}
}

func TestShaperLossIsRTOStalls(t *testing.T) {
	s := shaperWith(2)
	im := Impairment{Delay: 100 * time.Millisecond, Loss: 0.3}
	rto := rtoMin + 2*im.Delay // 400 ms
	lost, n := 0, 10000
	for i := range n {
		sent := time.Unix(int64(i)*1000, 0) // far apart: no packet holds up another
		extra := s.at(sent, 100, im).Sub(sent) - im.Delay
		// A packet lost k times waits rto·(2^k − 1) more.
		k := 0
		for w := time.Duration(0); w < extra; k++ {
			w += rto << k
			if w > extra {
				t.Fatalf("packet %d waited %s more than its delay: not a sum of doubling RTOs of %s", i, extra, rto)
			}
		}
		if k > 0 {
			lost++
		}
	}
	if f := float64(lost) / float64(n); f < 0.27 || f > 0.33 {
		t.Fatalf("%.3f of the packets stalled, want about 0.30", f)
	}
}

func TestShaperRate(t *testing.T) {
	s := shaperWith(3)
	im := Impairment{Rate: 1000} // 1,000 bytes a second
	now := time.Unix(0, 0)
	var at time.Time
	for range 10 {
		at = s.at(now, 500, im)
	}
	if want := now.Add(5 * time.Second); !at.Equal(want) {
		t.Fatalf("10 packets of 500 B at 1,000 B/s sent at once: the last delivered at %s, want %s", at.Sub(now), want.Sub(now))
	}
}

// The relay forwards both directions intact, and closes the other side
// when one side closes.
func TestRelayForwards(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRelay(ln, func() (net.Conn, error) { return net.Dial("tcp", up.Addr().String()) })
	defer r.close()
	r.set(Impairment{Delay: time.Millisecond, Jitter: time.Millisecond, Loss: 0.1})
	// The upstream echoes what it reads.
	go func() {
		c, err := up.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("vitalchain relay "), 20000) // 340 KB: many packets
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the echo through the relay differs from what was sent")
	}
	c.(*net.TCPConn).CloseWrite() // the upstream's copy ends, it closes, the relay closes c
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after the upstream closed: %v, want EOF", err)
	}
}

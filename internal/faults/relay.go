package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Impairment is what a link does to the traffic that crosses it, in each
// direction.
type Impairment struct {
	Delay  time.Duration // one way
	Jitter time.Duration // the delay varies uniformly by ± this
	// Loss is the probability that a packet is lost. Over TCP, which the
	// relay carries, a lost packet is a stall: see shaper.
	Loss float64
	Rate int64 // bytes per second; 0: unlimited
}

func (im Impairment) String() string {
	if im == (Impairment{}) {
		return "none"
	}
	s := fmt.Sprintf("%s ± %s", im.Delay, im.Jitter)
	if im.Loss > 0 {
		s += fmt.Sprintf(", %.0f%% loss", 100*im.Loss)
	}
	if im.Rate > 0 {
		s += fmt.Sprintf(", %d B/s", im.Rate)
	}
	return s
}

// The relay's model of TCP over a lossy link.
const (
	// packetSize is the most the relay forwards as one packet: an Ethernet
	// MSS with TCP timestamps.
	packetSize = 1448
	// rtoMin is Linux's minimum retransmission timeout.
	rtoMin = 200 * time.Millisecond
	// maxStall bounds one packet's stall (Linux's TCP_RTO_MAX is 120 s).
	maxStall = 60 * time.Second
)

// shaper decides when each packet of one direction of a connection is
// delivered. A packet waits for the link to be free (Rate), then for the
// delay ± jitter; with probability Loss it is lost and waits for its
// retransmission, one RTO later (rtoMin plus the round trip, as Linux
// computes it for a steady round trip), lost again with the same
// probability, each time after twice the wait before (the RTO's backoff).
// Delivery keeps TCP's order: a packet is never delivered before the one
// sent ahead of it, so one stall holds up what follows (head-of-line
// blocking). The model leaves out fast retransmit, which repairs a loss in
// about a round trip when enough packets follow it: for the small,
// bursty messages of consensus, most losses wait for the RTO, so the model
// errs on the slow side.
type shaper struct {
	rnd  *rand.Rand
	last time.Time // when the previous packet is delivered
	free time.Time // when the link has sent the previous packet (Rate)
}

// at returns when a packet of n bytes, read at now, is delivered.
func (s *shaper) at(now time.Time, n int, im Impairment) time.Time {
	t := now
	if im.Rate > 0 {
		t = later(now, s.free).Add(time.Duration(int64(n) * int64(time.Second) / im.Rate))
		s.free = t
	}
	d := im.Delay
	if im.Jitter > 0 {
		d += time.Duration(s.rnd.Int64N(int64(2*im.Jitter)+1)) - im.Jitter
	}
	t = t.Add(max(d, 0))
	if im.Loss > 0 {
		rto := rtoMin + 2*im.Delay
		for stall := time.Duration(0); s.rnd.Float64() < im.Loss && stall+rto <= maxStall; rto *= 2 {
			stall += rto
			t = t.Add(rto)
		}
	}
	t = later(t, s.last)
	s.last = t
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// relay forwards the TCP connections its listener accepts to dial's
// connections, impaired in both directions.
type relay struct {
	ln   net.Listener
	dial func() (net.Conn, error)
	imp  atomic.Pointer[Impairment]
	seed atomic.Uint64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// newRelay starts a relay on ln.
func newRelay(ln net.Listener, dial func() (net.Conn, error)) *relay {
	r := &relay{ln: ln, dial: dial, conns: map[net.Conn]struct{}{}}
	r.imp.Store(&Impairment{})
	r.wg.Add(1)
	go r.accept()
	return r
}

// set changes the impairment of every connection, from its next packet.
func (r *relay) set(im Impairment) { r.imp.Store(&im) }

// close closes the listener and every connection, and waits for the
// relay's goroutines.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	r.ln.Close()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// track adds c to the connections close closes; false if closed already.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of descriptors, say: back off
			continue
		}
		if !r.track(c) {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.untrack(c)
			up, err := r.dial()
			if err != nil {
				return
			}
			if !r.track(up) {
				return
			}
			defer r.untrack(up)
			done := make(chan struct{})
			var once sync.Once
			end := func() { once.Do(func() { close(done); c.Close(); up.Close() }) }
			var pw sync.WaitGroup
			pw.Add(2)
			go func() { defer pw.Done(); r.pipe(c, up, done, end) }()
			go func() { defer pw.Done(); r.pipe(up, c, done, end) }()
			pw.Wait()
		}()
	}
}

// packet is a chunk of a stream and when it is delivered.
type packet struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each packet delivered when the shaper says.
// end closes both connections; done is closed by end.
func (r *relay) pipe(src, dst net.Conn, done chan struct{}, end func()) {
	q := make(chan packet, 256) // about 370 KB in flight; then src waits, as TCP's window does
	var w sync.WaitGroup
	w.Add(1)
	go func() {
		defer w.Done()
		t := time.NewTimer(0)
		<-t.C
		for p := range q {
			if d := time.Until(p.at); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-done:
					return
				}
			}
			if _, err := dst.Write(p.b); err != nil {
				end()
				return
			}
		}
		end() // src ended and everything read was delivered
	}()
	sh := &shaper{rnd: rand.New(rand.NewPCG(r.seed.Add(1), uint64(time.Now().UnixNano())))}
	buf := make([]byte, packetSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p := packet{b: append([]byte(nil), buf[:n]...), at: sh.at(time.Now(), n, *r.imp.Load())}
			select {
			case q <- p:
			case <-done:
				close(q)
				w.Wait()
				return
			}
		}
		if err != nil {
			break
		}
	}
	close(q)
	w.Wait()
}

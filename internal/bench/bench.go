// Package bench runs VitalChain's benchmarks in this process: the ledger's
// throughput under signed transactions (Chain), the cloud's durable ingest
// of records over its HTTP API (Ingest), and the machine's Ed25519
// verification rate both are set against (VerifyRate). Each builds its
// world on package testbed, warms up, then measures a window of time; only
// what completes inside the window counts. `vitalchain bench` is their
// command line.
package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
)

// VerifyRate measures this machine's Ed25519 verification rate, under the
// ZIP-215 rules VitalChain uses, for d on all cores at once and then for d
// on one core.
func VerifyRate(d time.Duration) (all, oneCore float64) {
	_, priv, _ := ed25519.GenerateKey(nil)
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 128)
	sig := ed25519.Sign(priv, msg)
	run := func(workers int) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := int64(0)
				for time.Now().Before(deadline) {
					for range 16 {
						if identity.Verify(pub, msg, sig) != nil {
							panic("bench: a valid Ed25519 signature failed to verify")
						}
					}
					c += 16
				}
				n.Add(c)
			}()
		}
		wg.Wait()
		return math.Round(float64(n.Load()) / time.Since(start).Seconds())
	}
	return run(runtime.GOMAXPROCS(0)), run(1)
}

// window is a benchmark's measured period: the load runs before and after
// it, but only what completes while it is open counts. It may be opened
// several times (measure); its figures then add up.
type window struct {
	on         atomic.Bool
	start, end time.Time     // of the last measure
	total      time.Duration // open, over every measure
	cpu        time.Duration // the process's CPU time while open, over every measure

	mu    sync.Mutex
	lats  []time.Duration
	first atomic.Value // string: the first error, for the progress lines
}

// open reports whether the window is open.
func (w *window) open() bool { return w.on.Load() }

// took records the latency of an operation that completed in the window.
func (w *window) took(d time.Duration) {
	w.mu.Lock()
	w.lats = append(w.lats, d)
	w.mu.Unlock()
}

// fail records err if it is the first error.
func (w *window) fail(err error) { w.first.CompareAndSwap(nil, err.Error()) }

// firstError returns the first error recorded, or "".
func (w *window) firstError() string {
	s, _ := w.first.Load().(string)
	return s
}

// latencies returns the percentiles of the latencies recorded.
func (w *window) latencies() testbed.Percentiles {
	w.mu.Lock()
	defer w.mu.Unlock()
	return testbed.PercentilesOf(w.lats)
}

// seconds is how long the window was open, over every measure.
func (w *window) seconds() float64 { return w.total.Seconds() }

// measure opens the window for d, writing a CPU profile of it to the file
// cpuprofile unless that is "".
func (w *window) measure(ctx context.Context, d time.Duration, cpuprofile string) error {
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := processCPU()
	w.start = time.Now()
	w.on.Store(true)
	err := sleep(ctx, d)
	w.on.Store(false)
	w.end = time.Now()
	w.total += w.end.Sub(w.start)
	w.cpu += processCPU() - cpu0
	return err
}

// processCPU returns the CPU time (user and system) this process has used,
// or 0 where the system does not tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// progress returns a function that writes a line to w (nil: nowhere).
func progress(w io.Writer) func(format string, a ...any) {
	if w == nil {
		w = io.Discard
	}
	return func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
}

// workDir returns dir, or, if it is "", a new temporary directory; done
// removes the directory if workDir made it.
func workDir(dir, pattern string) (_ string, done func(), err error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	dir, err = os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// registering is how many registrations are in flight at once: fewer than
// the ledger's window of sequence numbers (64), so that none of a head's
// transactions commits after one numbered 64 later.
const registering = 32

// registerPatient registers a patient of suite in cluster and commits its
// epoch-1 session key (transaction 1), which it returns.
func registerPatient(ctx context.Context, ch *testbed.Chain, suite identity.Suite, cluster uint32) (*identity.Identity, envelope.SessionKey, error) {
	id, err := ch.Register(ctx, identity.RolePatient, suite, cluster)
	if err != nil {
		return nil, envelope.SessionKey{}, fmt.Errorf("register a patient: %w", err)
	}
	key, err := envelope.NewSessionKey()
	if err != nil {
		return nil, key, err
	}
	self, err := envelope.SelfEnvelope(id, 1, key)
	if err != nil {
		return nil, key, err
	}
	b, err := self.Marshal()
	if err != nil {
		return nil, key, err
	}
	if _, err := ch.Submit(ctx, id.Signing, &ledger.SessionKey{Epoch: 1, Envelope: b}); err != nil {
		return nil, key, fmt.Errorf("patient's session key: %w", err)
	}
	return id, key, nil
}

// round rounds v to digits decimals.
func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return float64(int64(v*p+0.5)) / p
}

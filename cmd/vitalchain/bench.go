package main

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: bench needs a subject: chain, ingest or e2e", cli.ErrUsage)
	}
	switch args[0] {
	case "chain":
		return runBenchChain(args[1:], stdout, stderr)
	case "ingest":
		return runBenchIngest(args[1:], stdout, stderr)
	case "e2e":
		return runBenchE2E(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown bench subject %q (want chain, ingest or e2e)", cli.ErrUsage, args[0])
}

// verifyRate measures this machine's Ed25519 verification rate, under the
// ZIP-215 rules VitalChain uses, on all cores at once and on one core.
func verifyRate(d time.Duration) (all, oneCore float64) {
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
							panic("verify failed")
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

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

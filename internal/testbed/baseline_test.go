package testbed

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

func TestParseBaseline(t *testing.T) {
	tests := []struct {
		in   string
		want Baseline
		err  error
	}{
		{"none", BaselineNone, nil},
		{"per-record", BaselinePerRecord, nil},
		{"per-reading", BaselinePerReading, nil},
		{"per-block", 0, ErrUnknownBaseline},
		{"", 0, ErrUnknownBaseline},
	}
	for _, tt := range tests {
		got, err := ParseBaseline(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("ParseBaseline(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.err)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
}

// Each baseline puts one transaction on the chain per abnormal record
// (per-record) or per reading (per-reading), besides the cloud's anchors,
// and the summary says so.
func TestBaselines(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	for _, b := range []Baseline{BaselinePerRecord, BaselinePerReading} {
		t.Run(b.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s, err := Start(ctx, Options{Dir: t.TempDir(), Patients: 2, Providers: 2, Devices: 6, Interval: 500 * time.Millisecond,
				AbnormalFraction: 0.1, Speedup: 480, BlockInterval: 100 * time.Millisecond, CloudSeal: 500 * time.Millisecond,
				Suite: identity.SuiteX25519, Seed: 3, Baseline: b})
			if err != nil {
				t.Fatal(err)
			}
			// Long enough for some abnormal readings whatever the load.
			sum, err := s.Run(ctx, nil, 6*time.Second, false)
			var verified int64 // readings the gateways took: those a per-reading design posts
			for _, p := range s.Patients {
				verified += int64(p.Gateway.Stats().Readings)
			}
			s.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Failures) > 0 {
				t.Errorf("failures: %v", sum.Failures)
			}
			want := int64(sum.RecordsStored)
			if b == BaselinePerReading {
				want = verified
			}
			switch {
			case sum.Baseline != b.String():
				t.Errorf("baseline %q, want %q", sum.Baseline, b)
			case want == 0:
				t.Errorf("nothing to post: %d readings, %d records", sum.Readings, sum.RecordsStored)
			case sum.BaselineTxs != want || sum.BaselineRefused != 0:
				t.Errorf("%d hashes committed, %d refused; want %d committed", sum.BaselineTxs, sum.BaselineRefused, want)
			case sum.BaselineLatencyMs.N != int(want):
				t.Errorf("%d latencies for %d hashes", sum.BaselineLatencyMs.N, want)
			case int64(sum.ChainTxs) < want:
				t.Errorf("%d transactions on the chain, fewer than the %d hashes", sum.ChainTxs, want)
			case sum.TxsPerReading != float64(sum.ChainTxs)/float64(sum.Readings):
				t.Errorf("transactions per reading %v, want %d ÷ %d", sum.TxsPerReading, sum.ChainTxs, sum.Readings)
			}
		})
	}
}

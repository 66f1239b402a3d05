package sim

import (
	"fmt"
	"io"
	"time"

	"github.com/vitalchain/vitalchain/overlay"
)

// Report is a run of the density election and, on the same network, of the
// lowest-ID baseline.
type Report struct {
	Graph Graph `json:"graph"`
	Result
	Baseline *Result `json:"baseline,omitempty"`
	// Sweep is the overhead against network size, when asked for.
	Sweep []SweepPoint `json:"sweep,omitempty"`
	// Speeds is the election under mobility against the top speed, when
	// asked for.
	Speeds []SpeedPoint `json:"speeds,omitempty"`
	// ElapsedS is the wall time of the runs, in seconds.
	ElapsedS float64 `json:"elapsed_s"`
}

// SweepPoint is the overhead of one alert in a network of Nodes nodes.
type SweepPoint struct {
	Nodes     int     `json:"nodes"`
	Clusters  int     `json:"clusters"`
	Clustered float64 `json:"clustered_messages"`
	Flat      float64 `json:"flat_messages"`
	Baseline  float64 `json:"baseline_clustered_messages"`
	Ratio     float64 `json:"ratio"`
}

// SpeedPoint is the election's behaviour under random-waypoint mobility at
// one top speed: the averages over the run of Result's OrphansMean,
// HeadsAdjacentMean and HeadChurnPerMin, for the density election and the
// lowest-ID baseline on the same network and moves.
type SpeedPoint struct {
	Speed            float64 `json:"speed_m_per_s"`
	Orphans          float64 `json:"orphans_mean"`
	BaselineOrphans  float64 `json:"baseline_orphans_mean"`
	Adjacent         float64 `json:"heads_adjacent_mean"`
	BaselineAdjacent float64 `json:"baseline_heads_adjacent_mean"`
	Churn            float64 `json:"head_churn_per_min"`
	BaselineChurn    float64 `json:"baseline_head_churn_per_min"`
}

// SpeedSweep runs cfg with each top speed (random waypoint, cfg.Pause at
// each waypoint), the other parameters unchanged, with both elections.
func SpeedSweep(cfg Config, speeds []float64) ([]SpeedPoint, error) {
	var pts []SpeedPoint
	for _, v := range speeds {
		c := cfg
		c.Speed = v
		rep, err := Compare(c, true)
		if err != nil {
			return nil, fmt.Errorf("sweep at %g m/s: %w", v, err)
		}
		b := rep.Baseline
		pts = append(pts, SpeedPoint{
			Speed: v, Orphans: rep.OrphansMean, BaselineOrphans: b.OrphansMean,
			Adjacent: rep.HeadsAdjacentMean, BaselineAdjacent: b.HeadsAdjacentMean,
			Churn: round3(rep.HeadChurnPerMin), BaselineChurn: round3(b.HeadChurnPerMin),
		})
	}
	return pts, nil
}

// Compare runs cfg with the density election and, when baseline is set,
// with the lowest-ID baseline on the same network.
func Compare(cfg Config, baseline bool) (Report, error) {
	start := time.Now()
	cfg.Policy = overlay.PolicyDensity
	r, g, err := Run(cfg)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Graph: g, Result: r}
	if baseline {
		cfg.Policy = overlay.PolicyLowestID
		b, _, err := Run(cfg)
		if err != nil {
			return Report{}, err
		}
		rep.Baseline = &b
	}
	rep.ElapsedS = round3(time.Since(start).Seconds())
	return rep, nil
}

// Sweep measures the overhead of one alert for each network size, the other
// parameters of cfg unchanged; each run stops once converged.
func Sweep(cfg Config, sizes []int) ([]SweepPoint, error) {
	var pts []SweepPoint
	for _, n := range sizes {
		c := cfg
		c.Nodes = n
		c.StopWhenConverged = true
		c.Speed, c.Fail, c.FailHeads = 0, 0, 0
		rep, err := Compare(c, true)
		if err != nil {
			return nil, fmt.Errorf("sweep at %d nodes: %w", n, err)
		}
		pts = append(pts, SweepPoint{
			Nodes: n, Clusters: rep.Clusters, Clustered: rep.Overhead.Clustered.Messages,
			Flat: rep.Overhead.Flat.Messages, Baseline: rep.Baseline.Overhead.Clustered.Messages,
			Ratio: rep.Overhead.Ratio,
		})
	}
	return pts, nil
}

// WriteSummary prints a short human summary of rep.
func WriteSummary(w io.Writer, rep Report) error {
	g := rep.Graph
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("network: %d nodes (%d eligible) on %.0f m x %.0f m, range %.0f m, mean degree %.1f, %d component(s), largest %d\n",
		g.Nodes, g.Eligible, g.Side, g.Side, g.Range, g.MeanDegree, g.Components, g.LargestComponent)
	row := func(r *Result) {
		conv := "never"
		if r.ConvergeRounds >= 0 {
			conv = fmt.Sprintf("%d rounds", r.ConvergeRounds)
		}
		p("%-10s %5d clusters, size min/median/max %d/%g/%d, converged in %s, %.1f msgs/node, adjacent heads %d, orphans %d, unreachable %d, head churn %.2f/min\n",
			r.Policy, r.Clusters, r.ClusterSize.Min, r.ClusterSize.Median, r.ClusterSize.Max, conv,
			r.MessagesPerNode, r.HeadsAdjacent, r.Orphans, r.Unreachable, r.HeadChurnPerMin)
		o := r.Overhead
		p("%-10s alert overhead: clustered %.1f msgs (%.1f hops to provider, %.1f to all authorities), flat %.1f msgs (%.1f, %.1f), ratio %.3f\n",
			"", o.Clustered.Messages, o.Clustered.HopsToProvider, o.Clustered.HopsToAuthorities,
			o.Flat.Messages, o.Flat.HopsToProvider, o.Flat.HopsToAuthorities, o.Ratio)
		p("%-10s hops to provider: %.1f through the heads, %.1f through the gateways, at least %.1f through the patient's head, %.1f flat\n",
			"", o.Clustered.HopsToProvider, o.Gateways.HopsToProvider, o.MinHopsToProvider, o.Flat.HopsToProvider)
		if r.OrphansMean > 0 || r.HeadsAdjacentMean > 0 {
			p("%-10s while moving or failing: %.2f orphans and %.2f adjacent head pairs on average\n", "", r.OrphansMean, r.HeadsAdjacentMean)
		}
		if f := r.Failures; f != nil {
			p("%-10s failures: %d killed (%d heads), %d clusters taken over in median %.1f / max %.1f rounds, recovered in %d rounds\n",
				"", f.Killed, f.HeadsKilled, f.TakenOver, f.TakeoverMedian, f.TakeoverMax, f.RecoveredRounds)
		}
	}
	row(&rep.Result)
	if rep.Baseline != nil {
		row(rep.Baseline)
	}
	for _, s := range rep.Sweep {
		p("sweep: %5d nodes: clustered %.1f, flat %.1f msgs per alert (ratio %.3f)\n", s.Nodes, s.Clustered, s.Flat, s.Ratio)
	}
	for _, s := range rep.Speeds {
		p("speed %5.1f m/s: orphans %.2f (lowest-id %.2f), adjacent heads %.2f (%.2f), head churn %.0f/min (%.0f/min)\n",
			s.Speed, s.Orphans, s.BaselineOrphans, s.Adjacent, s.BaselineAdjacent, s.Churn, s.BaselineChurn)
	}
	p("elapsed %.1f s\n", rep.ElapsedS)
	return nil
}

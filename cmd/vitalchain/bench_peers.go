package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vitalchain/vitalchain/internal/bench"
	"github.com/vitalchain/vitalchain/internal/benchplot"
	"github.com/vitalchain/vitalchain/internal/cli"
)

// peerRow is one chain's figures in 'bench peers'.
type peerRow struct {
	Name        string  `json:"name"`
	Source      string  `json:"source"` // the file it was read from
	Mode        string  `json:"mode"`   // saturated, open loop at R tx/s
	TxPerS      float64 `json:"tx_per_s"`
	P50Ms       float64 `json:"commit_latency_p50_ms"`
	P99Ms       float64 `json:"commit_latency_p99_ms"`
	BytesPerTx  float64 `json:"bytes_per_tx,omitempty"`
	Validators  int     `json:"validators"`
	Final       bool    `json:"final"` // a commit that no fork can undo
	LoadAverage string  `json:"loadavg_start,omitempty"`
	short       string  // the chart's label
}

// runBenchPeers sets the results of bench chain (and bench e2e's
// anchoring) beside those of the Clique harness (../shared/peers/clique),
// measured in the same session, and charts them.
func runBenchPeers(args []string, stdout, stderr io.Writer) error {
	const synopsis = "bench peers --chain FILE [--clique FILE,…] [--e2e FILE] [--json] [--plot DIR]"
	fs := cli.NewFlags("vitalchain", "bench peers", synopsis, stderr)
	chainFile := fs.String("chain", "", "the output of 'bench chain --baseline --json' (required)")
	cliqueFiles := fs.String("clique", "", "outputs of the go-ethereum Clique harness's run.sh --json, comma-separated")
	e2eFile := fs.String("e2e", "", "the output of 'bench e2e --json' (its anchoring latency: reading → Merkle root committed)")
	asJSON := fs.Bool("json", false, "print the rows as JSON")
	plotDir := fs.String("plot", "", "write the charts (peers-throughput, peers-latency) into `dir`")
	plotFormat := fs.String("plot-format", "png", "chart format: png or svg")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *chainFile == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: bench peers needs --chain and takes flags only", cli.ErrUsage)
	}
	var rows []peerRow
	data, err := os.ReadFile(*chainFile)
	if err != nil {
		return err
	}
	var ch bench.ChainResult
	if err := json.Unmarshal(data, &ch); err != nil || ch.Validators == 0 {
		return fmt.Errorf("--chain %s: not the output of bench chain --json (%v)", *chainFile, err)
	}
	rows = append(rows, peerRow{Name: "vitalchain ledger (CometBFT)", Source: *chainFile, Mode: fmt.Sprintf("saturated, %d in flight", ch.InFlight),
		TxPerS: ch.TxPerS, P50Ms: ch.CommitLatencyMs.P50, P99Ms: ch.CommitLatencyMs.P99, Validators: ch.Validators, Final: true, short: "ledger\nsaturated"})
	if b := ch.Baseline; b != nil {
		rows = append(rows, peerRow{Name: "null app (CometBFT)", Source: *chainFile, Mode: fmt.Sprintf("saturated, %d in flight", ch.InFlight),
			TxPerS: b.TxPerS, P50Ms: b.CommitLatencyMs.P50, P99Ms: b.CommitLatencyMs.P99, Validators: ch.Validators, Final: true, short: "null app\nsaturated"})
	}
	if *e2eFile != "" {
		data, err := os.ReadFile(*e2eFile)
		if err != nil {
			return err
		}
		r, err := paperRun(data)
		if err != nil {
			return fmt.Errorf("--e2e %s: %w", *e2eFile, err)
		}
		rows = append(rows, peerRow{Name: "vitalchain anchoring (bench e2e)", Source: *e2eFile,
			Mode: fmt.Sprintf("%.0f readings/s, seal %d ms", r.ReadingsPerS, r.SealIntervalMs), TxPerS: float64(r.ChainTxs) / r.DurationS,
			P50Ms: r.AnchorLatencyMs.P50, P99Ms: r.AnchorLatencyMs.P99, BytesPerTx: float64(r.ChainBytes) / float64(max(1, r.ChainTxs)), Validators: 4, Final: true, short: "anchoring\n(bench e2e)"})
	}
	for _, f := range strings.Split(*cliqueFiles, ",") {
		if f == "" {
			continue
		}
		row, err := readClique(f)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if *plotDir != "" {
		var names []string
		var tps, p50, p99 []float64
		for _, r := range rows {
			names = append(names, r.short)
			tps, p50, p99 = append(tps, r.TxPerS), append(p50, r.P50Ms/1000), append(p99, r.P99Ms/1000)
		}
		files, err := benchplot.Peers(*plotDir, *plotFormat, names, tps, p50, p99)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintf(stderr, "wrote %s\n", f)
		}
	}
	if *asJSON {
		return writeJSON(stdout, rows)
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-34s %-28s %8.0f tx/s  commit p50 %6.0f ms  p99 %6.0f ms  final %v\n", r.Name, r.Mode, r.TxPerS, r.P50Ms, r.P99Ms, r.Final)
	}
	return nil
}

// paperRun returns the paper's design's run of a bench e2e output.
func paperRun(data []byte) (*e2eResult, error) {
	var runs []*e2eResult
	if err := json.Unmarshal(data, &runs); err != nil {
		var one e2eResult
		if err := json.Unmarshal(data, &one); err != nil || one.Summary == nil {
			return nil, fmt.Errorf("not the output of bench e2e --json")
		}
		runs = []*e2eResult{&one}
	}
	for _, r := range runs {
		if r.Summary != nil && r.Baseline == "" && r.DurationS > 0 {
			return r, nil
		}
	}
	return nil, fmt.Errorf("no run of the paper's design")
}

// readClique reads the last JSON line of a Clique harness's output.
func readClique(path string) (peerRow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return peerRow{}, err
	}
	var line []byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 && l[0] == '{' {
			line = append(line[:0], l...)
		}
	}
	var c struct {
		Chain       string  `json:"chain"`
		Signers     int     `json:"signers"`
		OfferedRate float64 `json:"offered_rate"`
		Mode        string  `json:"mode"`
		TxPerS      float64 `json:"tx_per_s"`
		Latency     struct {
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
		} `json:"commit_latency_ms"`
		BytesPerTx float64 `json:"chaindata_bytes_per_tx"`
		Env        struct {
			Load string `json:"loadavg_start"`
		} `json:"env"`
	}
	if err := json.Unmarshal(line, &c); err != nil || c.Signers == 0 {
		return peerRow{}, fmt.Errorf("--clique %s: not the output of the Clique harness's run.sh --json (%v)", path, err)
	}
	mode, short := "saturated", fmt.Sprintf("Clique %d signers\nsaturated", c.Signers)
	if c.OfferedRate > 0 {
		mode = fmt.Sprintf("open loop, %.0f tx/s offered", c.OfferedRate)
		short = fmt.Sprintf("Clique %d signers\n%.0f tx/s offered", c.Signers, c.OfferedRate)
	}
	return peerRow{Name: c.Chain, Source: path, Mode: mode, TxPerS: c.TxPerS, P50Ms: c.Latency.P50, P99Ms: c.Latency.P99,
		BytesPerTx: c.BytesPerTx, Validators: c.Signers, Final: false, LoadAverage: c.Env.Load, short: short}, nil
}

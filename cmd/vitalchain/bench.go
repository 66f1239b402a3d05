package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/vitalchain/vitalchain/internal/cli"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: bench needs a subject: chain, ingest, e2e, faults or peers", cli.ErrUsage)
	}
	switch args[0] {
	case "chain":
		return runBenchChain(args[1:], stdout, stderr)
	case "ingest":
		return runBenchIngest(args[1:], stdout, stderr)
	case "e2e":
		return runBenchE2E(args[1:], stdout, stderr)
	case "faults":
		return runBenchFaults(args[1:], stdout, stderr)
	case "peers":
		return runBenchPeers(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown bench subject %q (want chain, ingest, e2e, faults or peers)", cli.ErrUsage, args[0])
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

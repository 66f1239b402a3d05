#!/usr/bin/env bash
# Regenerates every figure and chart of docs/evaluation.md: the results'
# JSON under docs/evaluation/results/, the charts under docs/evaluation/plots/.
# Usage: docs/evaluation/run.sh [DURATION]   (each measured window; default 20s)
# It prints how long it took. The machine may be shared: say so next to a
# figure, and prefer the ratios, measured within one command.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=${1:-20s}
out=docs/evaluation/results
plots=docs/evaluation/plots
mkdir -p "$out" "$plots" bin
start=$(date +%s)
go build -o bin/ ./cmd/...
vc=bin/vitalchain
echo "== $(git rev-parse --short HEAD), $(nproc) cores, $(date -u +%FT%TZ), windows of $d" | tee "$out/run.txt"

# The chain at its ceiling: the ledger against a signature-only ABCI app,
# the same load, one after the other in one process.
$vc bench chain --baseline --duration "$d" --json --plot "$plots" >"$out/chain.json"

# The paper's design against the all-on-chain baselines, same offered load.
$vc bench e2e --baseline none,per-record,per-reading --duration "$d" --json --plot "$plots" >"$out/e2e-designs.json"

# Network size against overlay overhead (the simulator's own sweep).
$vc sim overlay --json --plot "$plots" >"$out/overlay.json"

echo "took $(( $(date +%s) - start )) s" | tee -a "$out/run.txt"

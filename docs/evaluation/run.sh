#!/usr/bin/env bash
# Regenerates every figure and chart of docs/evaluation.md: the results'
# JSON under docs/evaluation/results/, the charts under docs/evaluation/plots/,
# the CPU profiles' top functions per part, and the units that
# `vitalchain plan` embeds (internal/capacity/units.json).
#
# Usage: docs/evaluation/run.sh [DURATION [SWEEP_DURATION]]
#   DURATION        each measured window of the main runs (default 20s)
#   SWEEP_DURATION  each point of the scaling curves (default 10s)
# Environment:
#   SOAK=15m        also run the soak (bench e2e --duration 15m --sample 30s);
#                   off by default: it alone takes 16 minutes
#   CLIQUE=0        skip the go-ethereum Clique peer (../shared/peers/clique;
#                   its first build takes about 2 minutes)
#
# It prints how long each step and the whole took (run.txt). The machine may
# be shared: say so next to a figure, and prefer the ratios, measured within
# one command.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=${1:-20s}
sd=${2:-10s}
out=docs/evaluation/results
plots=docs/evaluation/plots
prof=$out/profiles
mkdir -p "$out" "$plots" "$prof" bin
start=$(date +%s)
go build -o bin/ ./cmd/...
vc=bin/vitalchain
echo "== $(git rev-parse --short HEAD), $(nproc) cores, $(date -u +%FT%TZ), windows of $d, sweep points of $sd, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/run.txt"
step() { # step NAME COMMAND…: runs it, notes its time
	local name=$1 t0
	shift
	t0=$(date +%s)
	"$@"
	echo "$name: $(($(date +%s) - t0)) s (load average $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$out/run.txt"
}

# The chain at its ceiling: the ledger against a signature-only ABCI app,
# the same load, one after the other in one process.
step "bench chain --baseline" sh -c "$vc bench chain --baseline --duration $d --json --plot $plots >$out/chain.json"

# The paper's design against the all-on-chain baselines, same offered
# load; each run's CPU profile, labelled by part.
step "bench e2e --baseline" sh -c "$vc bench e2e --baseline none,per-record,per-reading --duration $d --json --plot $plots --cpuprofile $prof/e2e.prof >$out/e2e-designs.json"

# The units of the capacity plan, from that run, and the plan at three sizes.
measured="docs/evaluation/run.sh $d at $(git rev-parse --short HEAD), $(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg) before the plan"
$vc plan --units "$out/e2e-designs.json" --units-command "vitalchain bench e2e --baseline none,per-record,per-reading --duration $d --json" \
	--units-measured "$measured" --write-units internal/capacity/units.json
for n in 10000 100000 1000000; do
	$vc plan --units internal/capacity/units.json --patients $n --json >"$out/plan-$n.json"
	$vc plan --units internal/capacity/units.json --patients $n >"$out/plan-$n.txt"
done

# What bounds each figure: the top functions of each part in the paper's run.
for part in gateway cloud authority; do
	go tool pprof -top -nodecount=25 -tagfocus "component=$part" "$vc" "$prof/e2e-none.prof" >"$prof/top-$part.txt" 2>/dev/null || true
done

# Scaling curves, each from one command (fresh systems, short windows).
step "sweep rate" sh -c "$vc bench e2e --sweep rate=250,500,1000,2000 --duration $sd --json --plot $plots >$out/sweep-rate.json"
step "sweep patients" sh -c "$vc bench e2e --sweep patients=5,10,20,40 --patients 20 --rate 500 --duration $sd --json --plot $plots >$out/sweep-patients.json"
step "sweep seal" sh -c "$vc bench e2e --sweep seal=250ms,500ms,1s,1250ms,2s,4s --duration $sd --json --plot $plots >$out/sweep-seal.json"

# Network size against overlay overhead (the simulator's own sweep).
step "sim overlay" sh -c "$vc sim overlay --json --plot $plots >$out/overlay.json"
step "sim overlay speeds" sh -c "$vc sim overlay --speeds 0.5,1,2,5,10 --json --plot $plots >$out/overlay-speeds.json"

# Peers side by side, in the same session: go-ethereum Clique, 4 signers,
# period 1 s, open loop at 400 tx/s and saturated.
# A peer that cannot run (no harness, its build failing) leaves the rest.
peers=""
if [ "${CLIQUE:-1}" != 0 ] && [ -x ../shared/peers/clique/run.sh ]; then
	for mode in "400 --rate 400" "saturated --rate 0"; do
		set -- $mode
		name=$1
		shift
		if step "clique $name" sh -c "../shared/peers/clique/run.sh --signers 4 $* --duration 30 --json >$out/clique-$name.json"; then
			peers="$peers${peers:+,}$out/clique-$name.json"
		else
			echo "clique $name: failed, left out" | tee -a "$out/run.txt"
			rm -f "$out/clique-$name.json"
		fi
	done
fi
$vc bench peers --chain "$out/chain.json" --e2e "$out/e2e-designs.json" ${peers:+--clique "$peers"} --json --plot "$plots" >"$out/peers.json" || echo "bench peers: failed" | tee -a "$out/run.txt"

# The soak (optional: SOAK=15m).
if [ -n "${SOAK:-}" ]; then
	step "soak $SOAK" sh -c "$vc bench e2e --duration $SOAK --sample 30s --json --plot $plots --cpuprofile $prof/soak.prof --heapprofile $prof/soak-heap >$out/soak.json"
	# What the Go heap gained from the end of warm-up to the last sample.
	go tool pprof -sample_index=inuse_space -top -nodecount=25 -base "$prof/soak-heap-warm.pb.gz" "$vc" "$prof/soak-heap-last.pb.gz" >"$prof/soak-heap-growth.txt" 2>/dev/null || true
	go tool pprof -sample_index=inuse_space -top -nodecount=25 "$vc" "$prof/soak-heap-last.pb.gz" >"$prof/soak-heap-last.txt" 2>/dev/null || true
fi

echo "took $(($(date +%s) - start)) s" | tee -a "$out/run.txt"

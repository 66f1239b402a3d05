// Package faults runs VitalChain's fault suite across real processes:
// each authority is its own `vitalchain node` process in a Linux network
// namespace of its own, the namespaces joined by veth pairs and bridges,
// while a light load of anchors and grants runs throughout. Each scenario
// breaks the network or the nodes (a 2/2 partition, the proposer cut off,
// loss, delay, a node killed, a skewed clock, the overlay's head killed
// under spoofed HELLOs, a WAN between hospitals), heals, and checks that
// no two nodes committed different blocks at a height, that every
// transaction whose commit was acknowledged is in every node's chain, and
// how fast the chain came back. `vitalchain bench faults` is its command
// line; it needs root.
//
// The network: a cut moves a node's data veth onto an empty bridge (both
// directions stop; TCP connections stay half open, as when a link fails).
// Impairments go through netem where the kernel has it; where it has not
// (this project's machines), each node's P2P port is a relay in the
// suite's process, inside the node's namespace, that applies delay ±
// jitter, loss and a rate to both directions of every connection it
// carries (see shaper for how loss is modelled over TCP). Every
// connection between two nodes crosses exactly one relay, the listening
// node's. The suite reaches each node's RPC over a second, management veth
// that no fault touches.
//
// The suite cleans up every namespace, veth, bridge, process and
// directory it made, also when its context ends (Ctrl-C), and sweeps what a
// killed run left, by name prefix, before it starts; one suite runs on a
// host at a time (a file lock).
package faults

import (
	"errors"
	"io"
	"log/slog"
	"time"
)

// ErrPrivilege: this process may not make network namespaces (not root,
// no ip command, not Linux).
var ErrPrivilege = errors.New("the fault suite needs root and Linux network namespaces")

// ErrUnknownScenario: Options.Scenarios names no scenario of Names().
var ErrUnknownScenario = errors.New("unknown fault scenario")

// Options configure Run.
type Options struct {
	// Binary is the vitalchain executable the nodes run.
	Binary string
	// Scenarios to run, by name, in order (nil: all of Names()).
	Scenarios []string
	// Before is how long the load runs before the fault (0: 5 s), After
	// how long after the heal (0: 10 s). Fault, if not 0, replaces each
	// scenario's own fault duration.
	Before, After, Fault time.Duration
	// NoSpoof runs head_killed_overlay without its spoofer.
	NoSpoof bool
	// Dir holds the nodes' homes and logs ("": a temporary directory);
	// Keep keeps it at the end.
	Dir  string
	Keep bool
	// NodeLogLevel is the nodes' --log-level ("": info); their logs are
	// node.log in their homes.
	NodeLogLevel string
	// Progress receives a line per step (nil: none); Log the suite's
	// diagnostics (nil: none).
	Progress io.Writer
	Log      *slog.Logger
}

// Result is what Run measured (`vitalchain bench faults --json`).
type Result struct {
	// Impairment says how loss and delay were applied: "netem" (the
	// kernel's, per packet) or "relay" (a TCP relay, loss as stalls).
	Impairment string           `json:"impairment"`
	Scenarios  []ScenarioResult `json:"scenarios"`
	Pass       bool             `json:"pass"`
	Dir        string           `json:"dir,omitempty"` // kept homes and logs
}

// ScenarioResult is one scenario's figures and verdict.
type ScenarioResult struct {
	Name  string `json:"name"`
	Fault string `json:"fault"` // what was done
	// Seconds of each phase: the load before the fault, the fault, after
	// the heal.
	BeforeS float64 `json:"before_s"`
	FaultS  float64 `json:"fault_s"`
	AfterS  float64 `json:"after_s"`
	// Blocks committed (the highest height any node reached) in each
	// phase, and as a rate.
	BlocksBefore       int64   `json:"blocks_before"`
	BlocksDuring       int64   `json:"blocks_during"`
	BlocksAfter        int64   `json:"blocks_after"`
	BlocksPerMinBefore float64 `json:"blocks_per_min_before"`
	BlocksPerMinDuring float64 `json:"blocks_per_min_during"`
	// Forks: heights at which two nodes committed different blocks.
	Forks int `json:"forks"`
	// Acked transactions (their commit acknowledged); Lost, those missing
	// from some node's final chain; Unknown, submitted and neither
	// acknowledged nor refused (a timeout, the load's end); Refused, by
	// the ledger.
	Acked   int `json:"acked"`
	Lost    int `json:"lost"`
	Unknown int `json:"unknown"`
	Refused int `json:"refused"`
	// HealToBlockMs: from the heal to the first new block (-1: none, or
	// no heal); HealToCaughtUpMs: until every running node had the height
	// the highest had at the heal.
	HealToBlockMs    int64 `json:"heal_to_block_ms"`
	HealToCaughtUpMs int64 `json:"heal_to_caught_up_ms"`
	// Anchoring: from an anchor's submission to its acknowledged commit,
	// for anchors submitted during the fault (all of them if none was).
	AnchorP50Ms float64 `json:"anchor_p50_ms"`
	AnchorP99Ms float64 `json:"anchor_p99_ms"`
	Anchors     int     `json:"anchors"`
	// Scenario-specific figures.
	RateRatio      float64 `json:"rate_ratio,omitempty"`           // wan: blocks/min during ÷ before
	BlockTimeMaxMs int64   `json:"block_time_offset_ms,omitempty"` // clock_skew: the largest |block time − when it was seen|
	HandoverTo     string  `json:"handover_to,omitempty"`          // head_killed_overlay: cluster 4's head at the end
	HandoverMs     int64   `json:"handover_ms,omitempty"`          // from the head's death to the handover seen
	Spoofed        int     `json:"spoofed,omitempty"`              // forged HELLOs sent
	FirstRefusal   string  `json:"first_refusal,omitempty"`
	Checks         []Check `json:"checks"`
	Pass           bool    `json:"pass"`
	Error          string  `json:"error,omitempty"` // the scenario could not run
}

// Check is one criterion of a verdict. An invariant must hold whatever the
// machine's speed (the tests assert these); a goal is a liveness figure.
type Check struct {
	Name      string `json:"name"`
	Invariant bool   `json:"invariant"`
	OK        bool   `json:"ok"`
	Detail    string `json:"detail"`
}

// Names returns the scenarios' names, in the order Run runs them.
func Names() []string {
	return []string{"partition_2_2", "isolate_proposer", "loss_30", "delay_300", "kill_restart", "clock_skew", "head_killed_overlay", "wan"}
}

// workPrefix starts the name of a suite's temporary directory.
const workPrefix = "vitalchain-faults-"

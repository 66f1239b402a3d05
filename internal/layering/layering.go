// Package layering holds the project's import rules: which packages must
// not link which others, each with the reason it matters. The rules are
// checked by this package's test against `go list` of the module, so that
// the layering cannot drift unseen.
package layering

import (
	"fmt"
	"slices"
	"strings"
)

const mod = "github.com/vitalchain/vitalchain"

// A Rule forbids the packages it applies to from linking, directly or
// through others, any package Deny matches. A pattern is an import path,
// or a path followed by "/..." for it and everything below it.
type Rule struct {
	Packages []string
	Deny     []string
	Why      string
}

// Rules are the project's import rules.
var Rules = []Rule{
	{
		Packages: []string{mod + "/ledger"},
		Deny:     []string{"github.com/cometbft/cometbft/...", "net", "net/http"},
		Why:      "the state machine is pure and deterministic: no I/O of its own; package chain wires it to CometBFT",
	},
	{
		Packages: []string{mod + "/overlay"},
		Deny:     []string{"net", "net/http", mod + "/client"},
		Why:      "the election is pure (messages and ticks in, messages and decisions out); overlay/udp carries it",
	},
	{
		Packages: []string{mod + "/..."},
		Deny:     []string{mod + "/cmd/..."},
		Why:      "commands only wire: nothing may build on one (a protocol, a world or a runner is a package of its own)",
	},
	{
		Packages: []string{mod + "/wearable", mod + "/device", mod + "/command", mod + "/reading"},
		Deny:     []string{mod + "/gateway", mod + "/cloud/...", mod + "/ledger", mod + "/client", mod + "/outbox", "go.etcd.io/bbolt/..."},
		Why:      "a wearable knows its patient's key and its broker, nothing more: it must fit a device",
	},
	{
		Packages: []string{mod + "/gateway", mod + "/provider"},
		Deny: []string{mod + "/cloud", mod + "/cloud/pebblestore", mod + "/cloud/pgstore", "github.com/cockroachdb/pebble/...",
			"github.com/jackc/pgx/..."},
		Why: "they speak to the cloud through cloudapi; the cloud's service and storage engines are the cloud's",
	},
	{
		Packages: []string{mod + "/cloud", mod + "/cloud/cloudapi"},
		Deny: []string{mod + "/cloud/pebblestore", mod + "/cloud/pgstore", "github.com/cockroachdb/pebble/...",
			"github.com/jackc/pgx/..."},
		Why: "the service links no storage engine: its drivers are packages of their own, which only the cloud's command links",
	},
	{
		Packages: []string{mod + "/client"},
		Deny:     []string{"github.com/cometbft/cometbft/...", "github.com/cockroachdb/pebble/..."},
		Why:      "the patient's gateway talks to the ledger through client and must stay small",
	},
	{
		Packages: []string{mod + "/lightclient"},
		Deny:     []string{"github.com/cometbft/cometbft/...", "github.com/cosmos/gogoproto/...", "github.com/gogo/protobuf/...", "net", "net/http"},
		Why:      "the gateway verifies the ledger's answers with it: CometBFT's light client, or even its types, put the gateway at 33.0 MB RSS in bench e2e instead of 25.6 (package init); and it is pure: no network, no clock (its tests, which may link CometBFT, hold it equal to CometBFT)",
	},
	{
		Packages: []string{mod + "/statetree"},
		Deny:     []string{"github.com/cometbft/cometbft/...", "github.com/cockroachdb/pebble/...", "net", "net/http", mod + "/ledger", mod + "/client"},
		Why:      "the gateway verifies the ledger's proofs with it, and the ledger commits its state in it: pure, small, no storage engine of its own (its caller keeps the nodes)",
	},
	{
		Packages: []string{mod + "/..."},
		Deny:     []string{"github.com/google/fhir/..."},
		Why:      "the R4 validator (and its protobuf model of all of FHIR) is a test dependency: the tests of fhir and fhirapi validate what we emit, the binaries do not carry it",
	},
	{
		Packages: []string{mod + "/fhirapi"},
		Deny: []string{mod + "/cloud", mod + "/cloud/pebblestore", mod + "/cloud/pgstore", mod + "/chain", "github.com/cockroachdb/pebble/...",
			"github.com/jackc/pgx/..."},
		Why: "the FHIR API serves what the provider's client verified: it reads through provider and the ledger's client, never the cloud's service or a store",
	},
	{
		Packages: []string{mod + "/cmd/vitalchain-gateway"},
		Deny:     []string{"github.com/cometbft/cometbft/...", "github.com/cockroachdb/pebble/...", "github.com/jackc/pgx/...", mod + "/cloud", mod + "/chain"},
		Why:      "the gateway runs on the patient's small hardware: CometBFT or Pebble alone would put it over its memory budget",
	},
}

// Violation is a package that links what a rule denies it.
type Violation struct {
	Rule    *Rule
	Package string
	Dep     string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s links %s: %s", v.Package, v.Dep, v.Rule.Why)
}

// Match reports whether path matches pattern.
func Match(pattern, path string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == p || strings.HasPrefix(path, p+"/")
	}
	return path == pattern
}

// Check returns every violation of rules in deps, which maps each package
// to the packages it links (transitively; itself excluded), in a stable
// order.
func Check(rules []Rule, deps map[string][]string) []Violation {
	var out []Violation
	pkgs := make([]string, 0, len(deps))
	for p := range deps {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for i := range rules {
		r := &rules[i]
		for _, p := range pkgs {
			if !slices.ContainsFunc(r.Packages, func(pat string) bool { return Match(pat, p) }) {
				continue
			}
			for _, d := range deps[p] {
				if d != p && slices.ContainsFunc(r.Deny, func(pat string) bool { return Match(pat, d) }) {
					out = append(out, Violation{Rule: r, Package: p, Dep: d})
				}
			}
		}
	}
	return out
}

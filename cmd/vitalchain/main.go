// Command vitalchain runs every part of VitalChain: keys, the ledger's nodes,
// the cloud, gateways, wearables, providers, the demo and the benchmarks.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/vitalchain/vitalchain/internal/cli"
)

const usage = `VitalChain: remote patient monitoring on a Proof-of-Authority ledger.

Usage:
    vitalchain <command> [arguments]

Commands:
    keys gen --role ROLE --out FILE [--suite SUITE]
                        Generate an actor's keys into a new key file (mode 0600).
                        ROLE is patient, provider, device, cloud or authority;
                        SUITE (patients and providers) is mlkem768x25519 (default)
                        or x25519.
    keys show FILE      Print the public keys of a key file.
    testnet --nodes N --out DIR [--host ADDR] [--base-port PORT] [--block-interval D]
                        Write the homes of N authorities (Cluster Heads) on one
                        host, with one genesis naming them all, and the
                        network's CA (DIR/ca): beyond loopback, RPC is TLS.
    node --home DIR     Run one authority: CometBFT with the ledger in process.
                        Its RPC (CometBFT's, e.g. /status) stays available.
    cert --ca DIR --host H[,H…] --out PREFIX
                        Issue a server certificate (a cloud's) from a CA that
                        testnet wrote: PREFIX.pem and PREFIX-key.pem.
    admit --by FILE --key FILE [--cluster N] [--ledger URL]
                        Register an actor on the ledger: a Cluster Head admits
                        patients, providers and clouds; a patient its devices.
    query PATH [--ledger URL]
                        Print the answer to a ledger query as JSON (paths:
                        authorities, member/ID, cluster/N, anchor/CLOUD/LOG…;
                        'go doc ./ledger Query').
    cloud --key FILE --store DIR|postgres://… --ledger URL[,URL…] [--listen ADDR]
                        Run the cloud: verified, durable, Merkle-anchored
                        storage of encrypted records, and access-checked reads.
                        In a directory (Pebble), or in PostgreSQL, where several
                        processes share the store and one sequences at a time.
    gateway --key FILE --data DIR [--ledger URL] [--cloud URL] [--listen ADDR | --broker URL]
                        Run a patient's gateway: an embedded MQTT broker (or an
                        external one) for the wearables, contract evaluation,
                        sealed uploads to the cloud through a durable outbox.
    device --patient ID --seed N [--broker URL] [--interval D] [--ledger URL]
                        Run a patient's simulated wearables, publishing signed
                        readings over MQTT and obeying signed device commands.
    patient contract|devices|grant|revoke|grants|access-log|erase --key FILE [flags]
                        A patient's own commands: register the wearables,
                        grant (transaction 2), revoke (a new epoch), list;
                        the verified audit trail; erasure of its records.
    provider alerts|fetch|export|send|command --key FILE [flags]
                        A provider: follow alerts, fetch and verify records,
                        export FHIR R4, send a record (transaction 3), command
                        a patient's device.
    demo [--duration D] [--json FILE]
                        The whole system in this process, playing the paper's
                        scenario; exits non-zero if an invariant broke.
    sim overlay --nodes N [--seed S] [--json] [--plot DIR]
                        Simulate the overlay's clusters and Cluster Head
                        election on a random geometric graph.
    bench chain [--json] [--duration D] [--baseline] [--plot DIR]
                        Start 4 authorities in this process, drive signed
                        transactions, and report throughput and latency;
                        with --baseline, the same load through a
                        signature-only ABCI app too, and their ratio.
    bench ingest [--json] [--duration D] [--store postgres://…]
                        Drive signed records into a cloud over its HTTP API,
                        durable writes on, and report records/s and latency;
                        with --store, on PostgreSQL too, beside Pebble.
    bench e2e [--json] [--duration D] [--rate R] [--baseline none,per-record,per-reading] [--plot DIR]
              [--sweep rate|patients|seal=V,…] [--sample D] [--cpuprofile FILE]
                        Run the whole system at R readings/s (default 1,000)
                        and report alert and anchoring latency, chain bytes
                        and transactions per reading, the gateway's memory and
                        each part's CPU per unit; --baseline runs the
                        all-on-chain designs too, --sweep a setting's curve,
                        --sample a soak (memory, files, disk, p99 over time).
    bench peers --chain FILE [--clique FILE,…] [--e2e FILE] [--json] [--plot DIR]
                        Set bench chain's result (and bench e2e's anchoring)
                        beside the go-ethereum Clique harness's runs
                        (../shared/peers/clique), in a table and charts.
    plan --patients N [--wearables W] [--interval I] [--abnormal F] [--json] [--units FILE]
                        Turn the measured per-unit costs (bench e2e's units)
                        into a deployment's resources: authorities, cloud
                        sequencers and cores, database writes, chain growth,
                        gateway hardware; and say what saturates first.
    bench faults [--json] [--scenarios NAME,…]
                        Run each authority as its own process in a network
                        namespace and break things: partitions, loss, delay,
                        killed nodes, a skewed clock, a spoofed overlay, a WAN;
                        report forks, lost transactions and recovery. Needs
                        root; exits non-zero if a scenario fails.
    help                Print this text.

Run 'vitalchain <command> -h' for a command's flags. Every flag may also
come from a VITALCHAIN_<FLAG> variable or a --config file (the command line
wins, then the environment, then the file).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "keys":
		err = runKeys(rest, stdout, stderr)
	case "node":
		err = runNode(rest, stdout, stderr)
	case "testnet":
		err = runTestnet(rest, stdout, stderr)
	case "cert":
		err = runCert(rest, stdout, stderr)
	case "cloud":
		err = runCloud(rest, stdout, stderr)
	case "query":
		err = runQuery(rest, stdout, stderr)
	case "admit":
		err = runAdmit(rest, stdout, stderr)
	case "bench":
		err = runBench(rest, stdout, stderr)
	case "demo":
		err = runDemo(rest, stdout, stderr)
	case "gateway":
		err = runGateway(rest, stdout, stderr)
	case "device":
		err = runDevice(rest, stdout, stderr)
	case "patient":
		err = runPatient(rest, stdout, stderr)
	case "provider":
		err = runProvider(rest, stdout, stderr)
	case "sim":
		err = runSim(rest, stdout, stderr)
	case "plan":
		err = runPlan(rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "vitalchain: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	return cli.Exit("vitalchain", err, stderr)
}

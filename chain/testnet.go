package chain

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/lightclient"
	"github.com/vitalchain/vitalchain/pki"
)

// TestnetOptions describe a set of authorities on one host.
type TestnetOptions struct {
	Nodes int // number of authorities (default 4)
	// Standby nodes follow the chain as full nodes with an authority key of
	// their own but are not in genesis: they become authorities only when
	// registered and voted in (or handed a cluster).
	Standby int
	Dir     string // where the homes go: Dir/node0, Dir/node1, …
	ChainID string // default "vitalchain-testnet"
	Host    string // the address every node binds and dials (default 127.0.0.1)
	// BasePort: node i listens for peers on BasePort+2i and for RPC on
	// BasePort+2i+1. Zero picks free ports.
	BasePort int
	// BlockInterval is CometBFT's timeout_commit: the pause after a block
	// (default DefaultBlockInterval).
	BlockInterval time.Duration
	// EmptyBlocksInterval: 0 makes a block every BlockInterval even when idle;
	// a positive value makes blocks only for transactions, or after that long.
	EmptyBlocksInterval time.Duration
	// NoEmptyBlocks makes blocks only when there are transactions.
	NoEmptyBlocks bool
	// Metrics turns CometBFT's Prometheus metrics on, node i serving them
	// on its own port (BasePort+2n+i for n nodes in all, standby ones
	// included; or a free port). Off for nodes that share a process: their
	// metrics would collide in Prometheus's default registry.
	Metrics bool
	Params  ledger.Params // zero means ledger.DefaultParams()
}

// DefaultBlockInterval is the block interval of the homes WriteTestnet
// writes: authorities on separate hosts, possibly far apart. Each block
// costs the interval plus three one-way network delays (the proposal, the
// prevotes, the precommits): a few milliseconds on a LAN, some 300 ms
// between hospitals 100 ms apart. At 200 ms a WAN kept 0.40 of the chain's
// LAN block rate (100 blocks/min against 248, `vitalchain bench faults
// --scenarios wan`); at 400 ms it keeps 0.57 (77 against 136), and an
// anchor still commits within 1.7 s at the 99th percentile there. The
// in-process chains (tests, the demo, the benchmarks) set their own.
const DefaultBlockInterval = 400 * time.Millisecond

// MaxBlockBytes bounds a block (CometBFT's block.max_bytes; its default is 21 MB).
const MaxBlockBytes = 4 << 20

// Testnet is what WriteTestnet wrote.
type Testnet struct {
	Homes []string
	RPC   []string // each node's RPC address, tcp://host:port
	// TLS says the nodes serve RPC over TLS (Host is not a loopback
	// address), with certificates of the CA in CADir.
	TLS   bool
	CADir string // the network's CA (package pki): clients trust CADir/ca.pem
	// Metrics are the URLs of the nodes' Prometheus metrics
	// (TestnetOptions.Metrics).
	Metrics     []string
	Authorities []*identity.Identity
	Consensus   [][]byte // each node's Ed25519 consensus public key
}

// WriteTestnet writes the homes of a new network of authorities: each with
// its CometBFT configuration, node key, validator key and authority key
// file, and one genesis naming them all, each the head of its own cluster.
func WriteTestnet(o TestnetOptions) (*Testnet, error) {
	if o.Nodes <= 0 {
		o.Nodes = 4
	}
	if o.ChainID == "" {
		o.ChainID = "vitalchain-testnet"
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.BlockInterval == 0 {
		o.BlockInterval = DefaultBlockInterval
	}
	if o.Params == (ledger.Params{}) {
		o.Params = ledger.DefaultParams()
	}
	total := o.Nodes + o.Standby
	nports := 2 * total
	if o.Metrics {
		nports = 3 * total
	}
	ports, err := portPicker(o.Host, o.BasePort, nports)
	if err != nil {
		return nil, err
	}
	// The network's CA: it certifies the nodes' RPC when they listen
	// beyond loopback, and 'vitalchain cert' issues the clouds' from it.
	ca, err := pki.New(o.ChainID+" CA", time.Now())
	if err != nil {
		return nil, err
	}
	tn := &Testnet{CADir: filepath.Join(o.Dir, "ca"), TLS: !pki.IsLoopback(o.Host)}
	if _, err := os.Stat(tn.CADir); err == nil {
		return nil, fmt.Errorf("testnet: %s already exists", tn.CADir)
	}
	if err := ca.WriteFiles(tn.CADir); err != nil {
		return nil, err
	}
	gen := ledger.Genesis{Params: o.Params}
	var vals []types.GenesisValidator
	var peers []string
	cfgs := make([]*cfg.Config, total)
	for i := range total {
		home := filepath.Join(o.Dir, "node"+strconv.Itoa(i))
		if _, err := os.Stat(home); err == nil {
			return nil, fmt.Errorf("testnet: %s already exists", home)
		}
		c := TunedConfig(o)
		c.SetRoot(home)
		c.Moniker = "authority" + strconv.Itoa(i)
		c.P2P.ListenAddress = "tcp://" + net.JoinHostPort(o.Host, strconv.Itoa(ports[2*i]))
		c.RPC.ListenAddress = "tcp://" + net.JoinHostPort(o.Host, strconv.Itoa(ports[2*i+1]))
		if o.Metrics {
			c.Instrumentation.Prometheus = true
			c.Instrumentation.PrometheusListenAddr = net.JoinHostPort(o.Host, strconv.Itoa(ports[2*total+i]))
			tn.Metrics = append(tn.Metrics, "http://"+c.Instrumentation.PrometheusListenAddr+"/metrics")
		}
		for _, d := range []string{filepath.Join(home, "config"), filepath.Join(home, "data")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		}
		if tn.TLS {
			// CometBFT reads these relative to the config directory.
			c.RPC.TLSCertFile, c.RPC.TLSKeyFile = "rpc.pem", "rpc-key.pem"
			hosts := []string{o.Host}
			if o.Host != "localhost" {
				hosts = append(hosts, "localhost")
			}
			if err := ca.IssueFiles(c.RPC.CertFile(), c.RPC.KeyFile(), hosts, time.Now()); err != nil {
				return nil, err
			}
		}
		nodeKey, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile())
		if err != nil {
			return nil, err
		}
		pv := privval.GenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
		pv.Save()
		auth, err := identity.Generate(identity.RoleAuthority, identity.DefaultSuite)
		if err != nil {
			return nil, err
		}
		if err := identity.WriteFile(filepath.Join(home, "config", AuthorityKeyFile), auth); err != nil {
			return nil, err
		}
		pub := pv.Key.PubKey
		if i < o.Nodes {
			vals = append(vals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: o.Params.AuthorityPower, Name: c.Moniker})
			gen.Authorities = append(gen.Authorities, ledger.GenesisAuthority{
				Name: c.Moniker, Key: auth.Public().Verifying.String(), Consensus: pub.Bytes(), Cluster: uint32(i + 1),
			})
		}
		tn.Consensus = append(tn.Consensus, pub.Bytes())
		peers = append(peers, string(nodeKey.ID())+"@"+net.JoinHostPort(o.Host, strconv.Itoa(ports[2*i])))
		cfgs[i] = c
		tn.Homes = append(tn.Homes, home)
		tn.RPC = append(tn.RPC, c.RPC.ListenAddress)
		tn.Authorities = append(tn.Authorities, auth)
	}
	appState, err := json.MarshalIndent(gen, "", "  ")
	if err != nil {
		return nil, err
	}
	params := types.DefaultConsensusParams()
	// Blocks of at most MaxBlockBytes: a block must reach every authority
	// well within a consensus round, or rounds time out under load and the
	// chain livelocks on ever larger proposals.
	params.Block.MaxBytes = MaxBlockBytes
	doc := &types.GenesisDoc{
		GenesisTime:     time.Now().UTC().Truncate(time.Millisecond),
		ChainID:         o.ChainID,
		InitialHeight:   1,
		ConsensusParams: params,
		Validators:      vals,
		AppState:        appState,
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, err
	}
	for i, c := range cfgs {
		var others []string
		for j, p := range peers {
			if j != i {
				others = append(others, p)
			}
		}
		c.P2P.PersistentPeers = strings.Join(others, ",")
		cfg.WriteConfigFile(filepath.Join(c.RootDir, "config", "config.toml"), c)
		if err := doc.SaveAs(c.GenesisFile()); err != nil {
			return nil, err
		}
	}
	return tn, nil
}

// TunedConfig returns CometBFT's configuration as VitalChain runs it: a
// handful of authorities, possibly on one host, possibly between sites on
// a WAN, tuned for short blocks. `vitalchain bench faults` measures what
// these settings do under partitions, loss, delay and dead nodes; besides
// them, the node's liveness reactor (liveness.go) finds dead peers and
// redials them, which no setting of CometBFT v0.38 reaches.
func TunedConfig(o TestnetOptions) *cfg.Config {
	c := cfg.DefaultConfig()
	c.DBBackend = "goleveldb"
	c.LogLevel = "error"
	// Several nodes on one host.
	c.P2P.AllowDuplicateIP = true
	c.P2P.AddrBookStrict = false
	c.P2P.PexReactor = false
	// Ask the app about each new peer, so a stopping node refuses them all (see Node.Stop).
	c.FilterPeers = true
	// Each consensus step waits on these; 100 ms by default.
	c.P2P.FlushThrottleTimeout = 10 * time.Millisecond
	c.Consensus.PeerGossipSleepDuration = 10 * time.Millisecond
	c.Consensus.PeerQueryMaj23SleepDuration = 500 * time.Millisecond
	// A proposal crosses a WAN in a one-way delay, a loss adds an RTO (some
	// 400 ms at 100 ms of delay): 1 s covers both, and is what a height
	// whose proposer is down waits before it moves on.
	c.Consensus.TimeoutPropose = time.Second
	// Waits after +2/3 of the votes of a step, for the rest. CometBFT's
	// 1 s each cost a height whose proposer is down (1 in 4 with one
	// authority dead or cut off) a propose timeout plus a second of
	// precommit wait; after a partition heals, the nodes' stuck round
	// ends through both waits. On a WAN a late vote is one delay (≈ 100 ms,
	// a few hundred ms behind a loss) away.
	c.Consensus.TimeoutPrevote = 500 * time.Millisecond
	c.Consensus.TimeoutPrecommit = 500 * time.Millisecond
	c.Consensus.TimeoutCommit = o.BlockInterval
	c.Consensus.CreateEmptyBlocks = !o.NoEmptyBlocks
	c.Consensus.CreateEmptyBlocksInterval = o.EmptyBlocksInterval
	// A dial or a handshake in progress blocks every other dial of that
	// peer (the liveness reactor's redials included, see liveness.go): a
	// handshake caught by a cut would hold the peer for CometBFT's 20 s.
	// Three round trips on a WAN with loss take well under 5 s.
	c.P2P.DialTimeout = 3 * time.Second
	c.P2P.HandshakeTimeout = 5 * time.Second
	c.P2P.SendRate = 64 << 20
	c.P2P.RecvRate = 64 << 20
	c.P2P.MaxPacketMsgPayloadSize = 64 << 10
	// The mempool: CheckTx keeps a view of each signer's sequence numbers
	// in the mempool (a number used or taken is refused), which the recheck
	// after each block rebuilds from what the mempool still holds, dropping
	// what the block made stale.
	c.Mempool.Recheck = true
	c.Mempool.Size = 100_000
	c.Mempool.CacheSize = 200_000
	c.Mempool.MaxTxBytes = ledger.MaxTxSize
	c.Mempool.MaxTxsBytes = 1 << 30
	// No transaction index: clients learn results from block events.
	c.TxIndex.Indexer = "null"
	c.RPC.MaxSubscriptionClients = 200
	c.RPC.MaxSubscriptionsPerClient = 20
	c.RPC.TimeoutBroadcastTxCommit = 10 * time.Second
	c.RPC.SubscriptionBufferSize = 10_000
	c.RPC.WebSocketWriteBufferSize = 10_000
	c.Instrumentation.Prometheus = false
	return c
}

// portPicker picks a testnet's ports: pickPorts, or what a test puts in
// its place.
var portPicker = pickPorts

// pickPorts returns n ports from base, or n free ports if base is 0.
func pickPorts(host string, base, n int) ([]int, error) {
	ports := make([]int, n)
	if base != 0 {
		for i := range ports {
			ports[i] = base + i
		}
		return ports, nil
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// GenesisFile returns the path of the network's genesis file.
func (t *Testnet) GenesisFile() string { return filepath.Join(t.Homes[0], "config", "genesis.json") }

// TrustRoot returns a light client's root of trust in the network: its
// genesis (see client.Client.Trust).
func (t *Testnet) TrustRoot() (*lightclient.Trusted, error) {
	b, err := os.ReadFile(t.GenesisFile())
	if err != nil {
		return nil, err
	}
	return client.GenesisTrust(b)
}

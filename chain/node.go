package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cfg "github.com/cometbft/cometbft/config"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/proxy"
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	"github.com/spf13/viper"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
)

// AuthorityKeyFile is the authority's VitalChain key file inside a node's
// config directory.
const AuthorityKeyFile = "authority.key"

// Node is one authority: a CometBFT node with the VitalChain app in process.
type Node struct {
	home      string
	cfg       *cfg.Config
	app       *App
	node      *nm.Node
	authority *identity.Identity
	consensus []byte // the Ed25519 consensus public key
	log       *slog.Logger

	dbs Databases // CometBFT's databases, closed by Stop after the node has stopped
}

// LoadConfig reads a node's CometBFT configuration from home/config/config.toml.
func LoadConfig(home string) (*cfg.Config, error) {
	v := viper.New()
	v.SetConfigFile(filepath.Join(home, "config", "config.toml"))
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read node config: %w", err)
	}
	c := cfg.DefaultConfig()
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("parse node config: %w", err)
	}
	c.SetRoot(home)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	return c, nil
}

// An Option changes how Open runs a node.
type Option func(*options)

type options struct {
	clockSkew time.Duration
}

// WithClockSkew runs the node as if its clock were off by d, for fault
// tests: CometBFT v0.38 reads the wall clock, for consensus, only to stamp
// the votes and proposals it signs (the block time is the median of the
// vote stamps of the last commit; timeouts run on durations, which a
// skewed clock leaves alone), so the node's signer adds d to every stamp.
// The ledger reads no clock at all.
func WithClockSkew(d time.Duration) Option { return func(o *options) { o.clockSkew = d } }

// Open prepares the node whose home directory is home: its configuration,
// keys, genesis and state. It does not start it.
func Open(home string, log *slog.Logger, opts ...Option) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{c.PrivValidatorKeyFile(), c.PrivValidatorStateFile(), c.NodeKeyFile(), c.GenesisFile()} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("node home %s: %w", home, err)
		}
	}
	auth, err := identity.ReadFile(filepath.Join(home, "config", AuthorityKeyFile))
	if err != nil {
		return nil, err
	}
	if err := auth.Role().Want(identity.RoleAuthority); err != nil {
		return nil, fmt.Errorf("node authority key: %w", err)
	}
	nodeKey, err := p2p.LoadNodeKey(c.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	// Reloaded on every start so that its last-signed state (double-sign
	// protection) survives restarts.
	pv := privval.LoadFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())

	app, err := NewApp(filepath.Join(c.DBDir(), "ledger"), log)
	if err != nil {
		return nil, err
	}
	n := &Node{home: home, cfg: c, app: app, authority: auth, consensus: pv.Key.PubKey.Bytes(), log: log}
	live, err := newLiveness(c.P2P.PersistentPeers, log.With("module", "liveness"))
	if err != nil {
		app.Close()
		return nil, fmt.Errorf("node persistent peers: %w", err)
	}
	var signer types.PrivValidator = pv
	if o.clockSkew != 0 {
		signer = skewedSigner{pv, o.clockSkew}
	}
	node, err := nm.NewNode(c, signer, nodeKey,
		proxy.NewConnSyncLocalClientCreator(app),
		nm.DefaultGenesisDocProviderFunc(c),
		n.dbs.Provider,
		nm.DefaultMetricsProvider(c.Instrumentation),
		cmtLogger{log.With("module", "cometbft")},
		nm.CustomReactors(map[string]p2p.Reactor{"VITALCHAIN_LIVENESS": live}),
	)
	if err != nil {
		n.closeDBs()
		app.Close()
		return nil, fmt.Errorf("create node: %w", err)
	}
	n.node = node
	return n, nil
}

// Databases opens CometBFT's databases for a node (Provider), handing it
// wrappers that ignore Close: CometBFT v0.38.26 can read a database after
// closing it on Stop (consensus queryMaj23Routine), which panics with
// "leveldb: closed". Close closes them, once the node has quite finished.
type Databases struct {
	mu  sync.Mutex
	dbs []dbm.DB
}

// Provider is a node.DBProvider.
func (d *Databases) Provider(ctx *cfg.DBContext) (dbm.DB, error) {
	db, err := cfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.dbs = append(d.dbs, db)
	d.mu.Unlock()
	return keepOpen{db}, nil
}

// Close closes the databases Provider opened.
func (d *Databases) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, db := range d.dbs {
		errs = append(errs, db.Close())
	}
	d.dbs = nil
	return errors.Join(errs...)
}

// skewedSigner signs votes and proposals stamped as by a clock off by skew.
type skewedSigner struct {
	types.PrivValidator
	skew time.Duration
}

func (s skewedSigner) SignVote(chainID string, v *cmtproto.Vote) error {
	v.Timestamp = v.Timestamp.Add(s.skew)
	return s.PrivValidator.SignVote(chainID, v)
}

func (s skewedSigner) SignProposal(chainID string, p *cmtproto.Proposal) error {
	p.Timestamp = p.Timestamp.Add(s.skew)
	return s.PrivValidator.SignProposal(chainID, p)
}

type keepOpen struct{ dbm.DB }

func (keepOpen) Close() error { return nil }

func (n *Node) closeDBs() { n.dbs.Close() }

// Start starts the node.
func (n *Node) Start() error {
	if err := n.node.Start(); err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	return nil
}

// Stop stops the node and closes its state.
func (n *Node) Stop() error {
	// CometBFT v0.38 leaks a connection it accepts after its switch stopped
	// ("Won't start a peer - switch is not running"): the peer at the other
	// end keeps it as live, and refuses this node's reconnection as a
	// duplicate until pings time out, minutes later. With FilterPeers on, the
	// app refuses every connection from now on, and refused ones are closed.
	n.app.stopping.Store(true)
	var err error
	if n.node.IsRunning() {
		err = n.node.Stop()
		n.node.Wait()
	}
	// Let CometBFT's sleeping goroutines wake and find the node stopped.
	time.Sleep(n.cfg.Consensus.PeerQueryMaj23SleepDuration + 100*time.Millisecond)
	n.closeDBs()
	return errors.Join(err, n.app.Close())
}

// Home returns the node's home directory.
func (n *Node) Home() string { return n.home }

// Config returns the node's CometBFT configuration.
func (n *Node) Config() *cfg.Config { return n.cfg }

// App returns the node's application.
func (n *Node) App() *App { return n.app }

// ConsensusKey returns the node's Ed25519 consensus public key: what a
// registration of its authority as authority-eligible names.
func (n *Node) ConsensusKey() []byte { return n.consensus }

// Authority returns the node's authority identity.
func (n *Node) Authority() *identity.Identity { return n.authority }

// Local returns the node as a client.Node, in process.
func (n *Node) Local() client.Node { return localNode{rpclocal.New(n.node)} }

// RPC returns a CometBFT client that calls the node in process.
func (n *Node) RPC() *rpclocal.Local { return rpclocal.New(n.node) }

// RPCAddress returns the node's RPC listen address (tcp://host:port).
func (n *Node) RPCAddress() string { return n.cfg.RPC.ListenAddress }

// ConsensusKeyOf reads the Ed25519 consensus public key of the node whose
// home is home, without opening the node (which may be running).
func ConsensusKeyOf(home string) ([]byte, error) {
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(c.PrivValidatorKeyFile())
	if err != nil {
		return nil, err
	}
	var f struct {
		PubKey struct {
			Type  string `json:"type"`
			Value []byte `json:"value"`
		} `json:"pub_key"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", c.PrivValidatorKeyFile(), err)
	}
	if f.PubKey.Type != "tendermint/PubKeyEd25519" || len(f.PubKey.Value) != 32 {
		return nil, fmt.Errorf("%s: not an Ed25519 consensus key", c.PrivValidatorKeyFile())
	}
	return f.PubKey.Value, nil
}

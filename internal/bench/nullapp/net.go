package nullapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	cmtlog "github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
)

// Net is a network of validators running App in this process, written by
// chain.WriteTestnet: the authorities' configuration, genesis and ports.
type Net struct {
	Testnet *chain.Testnet
	Apps    []*App
	nodes   []*nm.Node
	dbs     chain.Databases
}

// Start writes a testnet of o.Nodes validators under o.Dir, starts them
// and waits until every node has committed its first block.
func Start(ctx context.Context, o chain.TestnetOptions) (*Net, error) {
	tn, err := chain.WriteTestnet(o)
	if err != nil {
		return nil, fmt.Errorf("nullapp: %w", err)
	}
	n := &Net{Testnet: tn}
	for _, home := range tn.Homes {
		if err := n.start(home); err != nil {
			n.Stop()
			return nil, fmt.Errorf("nullapp: %w", err)
		}
	}
	for {
		low := int64(-1)
		for _, a := range n.Apps {
			if h := a.Height(); low < 0 || h < low {
				low = h
			}
		}
		if low >= 1 {
			return n, nil
		}
		select {
		case <-ctx.Done():
			n.Stop()
			return nil, fmt.Errorf("nullapp: wait for the first block: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Net) start(home string) error {
	c, err := chain.LoadConfig(home)
	if err != nil {
		return err
	}
	nodeKey, err := p2p.LoadNodeKey(c.NodeKeyFile())
	if err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	pv := privval.LoadFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
	app := New()
	node, err := nm.NewNode(c, pv, nodeKey,
		proxy.NewConnSyncLocalClientCreator(app),
		nm.DefaultGenesisDocProviderFunc(c),
		n.dbs.Provider,
		nm.DefaultMetricsProvider(c.Instrumentation),
		cmtlog.NewNopLogger(),
	)
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	n.Apps = append(n.Apps, app)
	n.nodes = append(n.nodes, node)
	if err := node.Start(); err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	return nil
}

// Client returns a client of node i, in process.
func (n *Net) Client(i int) *client.Client {
	return client.New(chain.LocalNode(rpclocal.New(n.nodes[i])), nil)
}

// Stop stops every node, in parallel, and closes their databases.
func (n *Net) Stop() error {
	var wg sync.WaitGroup
	errs := make([]error, len(n.nodes))
	var sleep time.Duration
	for i, node := range n.nodes {
		if s := node.Config().Consensus.PeerQueryMaj23SleepDuration; s > sleep {
			sleep = s
		}
		wg.Go(func() {
			if node.IsRunning() {
				errs[i] = node.Stop()
				node.Wait()
			}
		})
	}
	wg.Wait()
	n.nodes = nil
	time.Sleep(sleep + 100*time.Millisecond)
	errs = append(errs, n.dbs.Close())
	return errors.Join(errs...)
}

// ChainID returns the network's chain ID, from its genesis.
func (n *Net) ChainID() (string, error) {
	doc, err := types.GenesisDocFromFile(n.Testnet.GenesisFile())
	if err != nil {
		return "", fmt.Errorf("nullapp: %w", err)
	}
	return doc.ChainID, nil
}

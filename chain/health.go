package chain

import (
	"context"
	"errors"
	"fmt"

	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
)

// Why a node is not ready (Ready).
var (
	ErrNotRunning = errors.New("node not running")
	ErrCatchingUp = errors.New("node catching up")
	ErrNoPeers    = errors.New("node connected to none of its peers")
)

// Ready reports whether the node can do its job: it runs, has caught up
// with the chain (not block-syncing), and, if it has persistent peers, is
// connected to at least one. It is the node's /readyz.
func (n *Node) Ready(ctx context.Context) error {
	if !n.node.IsRunning() || n.app.stopping.Load() {
		return ErrNotRunning
	}
	st, err := rpclocal.New(n.node).Status(ctx)
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	if st.SyncInfo.CatchingUp {
		return fmt.Errorf("%w: at height %d", ErrCatchingUp, st.SyncInfo.LatestBlockHeight)
	}
	if n.cfg.P2P.PersistentPeers != "" && n.node.Switch().Peers().Size() == 0 {
		return ErrNoPeers
	}
	return nil
}

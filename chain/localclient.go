package chain

import (
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"

	"github.com/vitalchain/vitalchain/client"
)

// LocalNode returns a client.Node that calls, in process, the CometBFT
// node behind rpc, whatever its application: what Node.Local returns for
// an authority, for nodes that package chain did not open (the benchmark's
// baseline application).
func LocalNode(rpc *rpclocal.Local) client.Node { return localNode{rpc} }

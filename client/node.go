package client

import (
	"context"
	"time"

	"github.com/vitalchain/vitalchain/ledger"
)

// Node is the part of a CometBFT node's RPC that a Client uses. Dial's
// implementation speaks CometBFT's JSON-RPC over HTTP and a websocket and
// links nothing of CometBFT, so that small programs (the patient's gateway)
// stay small; package chain has the in-process one.
type Node interface {
	// Height returns the latest committed height.
	Height(ctx context.Context) (int64, error)
	// BroadcastTx hands tx to the node's mempool and returns CheckTx's code and log.
	BroadcastTx(ctx context.Context, tx []byte) (code uint32, log string, err error)
	// Query runs an ABCI query at the latest height.
	Query(ctx context.Context, path string) (code uint32, value []byte, log string, err error)
	// Block returns the committed block at height with its transactions' results.
	Block(ctx context.Context, height int64) (*Block, error)
	// NewBlocks delivers blocks as they commit until ctx ends, then closes
	// the channel. It may skip blocks (a reconnect, a slow reader): the
	// Client fills gaps with Block.
	NewBlocks(ctx context.Context) (<-chan *Block, error)
}

// Block is a committed block as the Client sees it.
type Block struct {
	Height  int64
	Time    time.Time
	Txs     [][]byte
	Results []TxResult // one per transaction, in order
}

// TxResult is a transaction's result in its block.
type TxResult struct {
	Code   uint32
	Log    string
	Events []ledger.Event
}

// errTxInCache is what CometBFT's mempool answers for a transaction it
// already holds (mempool.ErrTxInCache).
const errTxInCache = "tx already exists in cache"

// Proved is a node's answer to a query with its proof: Proof is the
// statetree proof (the ProofOp of type statetree.ProofOpType) of the value,
// or absence, of the state key Key, after block Height; the app hash it
// proves against is in header Height+1. A listing comes without a proof.
type Proved struct {
	Code   uint32
	Value  []byte
	Log    string
	Height int64
	Key    []byte
	Proof  []byte
}

// Prover is a Node that proves its answers and serves the signed headers
// and validator sets to check them against (CometBFT's /commit and
// /validators, as JSON that package lightclient decodes). Both of Dial's
// and package chain's nodes are.
type Prover interface {
	Node
	// ProvedQuery runs an ABCI query with prove=true.
	ProvedQuery(ctx context.Context, path string) (*Proved, error)
	// Commit returns the answer to /commit?height=H.
	Commit(ctx context.Context, height int64) ([]byte, error)
	// Validators returns the answer to /validators?height=H&page=P&per_page=100.
	Validators(ctx context.Context, height int64, page int) ([]byte, error)
}

// RootAttester is a Node that vouches for its own app hashes, with no
// signature: a test double (internal/memchain). A Client checks proofs
// against its roots only when told to (TrustNodeRoots).
type RootAttester interface {
	Node
	ProvedQuery(ctx context.Context, path string) (*Proved, error)
	// AppHash returns the app hash after block height, and that block's time.
	AppHash(ctx context.Context, height int64) ([32]byte, time.Time, error)
}

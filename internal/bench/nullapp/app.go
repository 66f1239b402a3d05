// Package nullapp is the chain benchmark's baseline: a minimal ABCI
// application that checks each transaction's signature once and does
// nothing else, and a network of CometBFT nodes running it in process,
// configured as the authorities are (chain.TunedConfig, chain.WriteTestnet).
// What VitalChain's ledger costs on top of CometBFT is the gap between
// `vitalchain bench chain` on the authorities and on this network.
package nullapp

import (
	"context"
	"sync"
	"sync/atomic"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vitalchain/vitalchain/ledger"
)

// maxVerified bounds the hashes of transactions verified in CheckTx and
// not yet seen in a block.
const maxVerified = 200_000

// Codes of the transactions App refuses.
const (
	CodeOK  uint32 = 0
	CodeBad uint32 = 1 // the transaction does not decode or its signature does not verify
)

// App accepts every transaction whose signature verifies (ledger.Decode:
// its encoding, its signature, its body's own consistency) and keeps no
// state: no sequence numbers, no registry, an empty app hash. Each
// transaction is verified once per node: in CheckTx, whose result
// FinalizeBlock reuses, or in FinalizeBlock for one the node had not
// checked. A recheck of the mempool costs nothing.
type App struct {
	abci.BaseApplication

	height   atomic.Int64
	pending  atomic.Int64 // the height finalized, not yet committed
	verified atomic.Int64 // signature checks done, in all

	mu    sync.Mutex
	seen  map[[32]byte]struct{} // verified in CheckTx, not yet in a block
	order [][32]byte            // seen's keys, oldest first, to bound it
}

var _ abci.Application = (*App)(nil)

// New returns an App at height 0.
func New() *App { return &App{seen: map[[32]byte]struct{}{}} }

// Height returns the last committed height.
func (a *App) Height() int64 { return a.height.Load() }

// Verified returns how many signatures the App has checked.
func (a *App) Verified() int64 { return a.verified.Load() }

// Info reports the committed height (the App keeps nothing across
// restarts, so a restarted node replays from genesis).
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	return &abci.ResponseInfo{Data: "nullapp", Version: "1", AppVersion: 1}, nil
}

// CheckTx verifies a new transaction and remembers it; a recheck passes.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	if req.Type == abci.CheckTxType_Recheck {
		return &abci.ResponseCheckTx{}, nil
	}
	h := ledger.Hash(req.Tx)
	if err := a.verify(req.Tx); err != nil {
		return &abci.ResponseCheckTx{Code: CodeBad, Log: err.Error()}, nil
	}
	a.mu.Lock()
	if _, ok := a.seen[h]; !ok {
		if len(a.order) >= maxVerified {
			delete(a.seen, a.order[0])
			a.order = a.order[1:]
		}
		a.seen[h] = struct{}{}
		a.order = append(a.order, h)
	}
	a.mu.Unlock()
	return &abci.ResponseCheckTx{}, nil
}

// FinalizeBlock accepts each transaction verified before, verifies the
// others, and changes nothing.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	out := &abci.ResponseFinalizeBlock{TxResults: make([]*abci.ExecTxResult, len(req.Txs))}
	for i, tx := range req.Txs {
		h := ledger.Hash(tx)
		a.mu.Lock()
		_, ok := a.seen[h]
		delete(a.seen, h) // its slot in order goes when it reaches the front
		a.mu.Unlock()
		r := &abci.ExecTxResult{}
		if !ok {
			if err := a.verify(tx); err != nil {
				r.Code, r.Log = CodeBad, err.Error()
			}
		}
		out.TxResults[i] = r
	}
	a.pending.Store(req.Height)
	return out, nil
}

// Commit makes the finalized block the committed one.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	a.height.Store(a.pending.Load())
	return &abci.ResponseCommit{}, nil
}

// verify checks tx statelessly, as the ledger does before anything else.
func (a *App) verify(tx []byte) error {
	a.verified.Add(1)
	_, err := ledger.Decode(tx)
	return err
}

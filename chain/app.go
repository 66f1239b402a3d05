package chain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/statetree"
)

// Query result codes outside the ledger's transaction codes.
const (
	QueryNotFound uint32 = 1
	QueryBad      uint32 = 2
	QueryFailed   uint32 = 3
)

// App is the ABCI application: ledger.Machine with its state in Pebble.
//
// CometBFT calls it on several connections at once (NewConnSyncLocalClientCreator):
// CheckTx, which is stateless, runs beside FinalizeBlock; queries read the
// committed store, which Commit changes atomically.
type App struct {
	abci.BaseApplication

	db  *pebble.DB
	m   *ledger.Machine
	log *slog.Logger

	// stopping makes the peer filter refuse every connection while the
	// node shuts down (see Node.Stop).
	stopping atomic.Bool

	// tree commits the state: its root is the app hash. FinalizeBlock
	// changes it, Commit writes its new nodes through treeW in the
	// block's batch (CometBFT calls both on one connection, in turn).
	tree  *statetree.Tree
	treeW *statetree.Pending

	mu      sync.Mutex
	height  int64
	appHash [32]byte
	pending *pendingBlock // finalized, not yet committed
}

type pendingBlock struct {
	height int64
	res    *ledger.Result
}

var _ abci.Application = (*App)(nil)

// NewApp opens the application's state in dir.
func NewApp(dir string, log *slog.Logger) (*App, error) {
	db, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	a := &App{db: db, m: ledger.NewMachine(), log: log}
	st := pebbleStore{db}
	if h, err := st.Get(metaHeight); err != nil {
		db.Close()
		return nil, err
	} else if len(h) == 8 {
		a.height = int64(binary.BigEndian.Uint64(h))
	}
	if ah, err := st.Get(metaAppHash); err != nil {
		db.Close()
		return nil, err
	} else {
		copy(a.appHash[:], ah)
	}
	a.treeW = statetree.NewPending(treeNodes{db})
	a.tree = statetree.Open(a.treeW, a.appHash[:])
	return a, nil
}

// Close closes the application's store.
func (a *App) Close() error { return a.db.Close() }

// Height returns the last committed height and app hash.
func (a *App) Height() (int64, [32]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.height, a.appHash
}

// Info tells CometBFT where the application's state is, so that the
// handshake replays exactly the blocks it has not committed.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	h, ah := a.Height()
	r := &abci.ResponseInfo{Data: "vitalchain", Version: "1", AppVersion: 1, LastBlockHeight: h}
	if h > 0 {
		r.LastBlockAppHash = ah[:]
	}
	return r, nil
}

// InitChain writes the genesis state, with the chain ID of CometBFT's
// genesis, which every transaction signs.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	g, err := ledger.ParseGenesis(req.AppStateBytes)
	if err != nil {
		return nil, err
	}
	res, err := a.m.InitChain(pebbleStore{a.db}, a.tree, req.ChainId, g, req.Time)
	if err != nil {
		return nil, err
	}
	if err := a.commit(0, res); err != nil {
		return nil, err
	}
	out := &abci.ResponseInitChain{AppHash: res.AppHash[:]}
	for _, u := range res.ValidatorUpdates {
		out.Validators = append(out.Validators, abci.Ed25519ValidatorUpdate(u.PubKey, u.Power))
	}
	return out, nil
}

// CheckTx checks a transaction for the mempool (see ledger.Machine.CheckTx),
// and after each block checks again what the mempool still holds
// (ledger.Machine.Recheck): the mempool's view of each signer's sequence
// numbers is rebuilt from it, and a transaction the block made stale leaves.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	var err error
	if req.Type == abci.CheckTxType_Recheck {
		err = a.m.Recheck(pebbleStore{a.db}, req.Tx)
	} else {
		_, err = a.m.CheckTx(pebbleStore{a.db}, req.Tx)
	}
	if err != nil {
		return &abci.ResponseCheckTx{Code: uint32(ledger.CodeOf(err)), Log: err.Error(), Codespace: ledger.Codespace}, nil
	}
	return &abci.ResponseCheckTx{}, nil
}

// PrepareProposal applies the proposer policy to the mempool's transactions.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	txs, err := a.m.Prepare(pebbleStore{a.db}, req.ProposerAddress, req.Time, req.Txs, req.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	return &abci.ResponsePrepareProposal{Txs: txs}, nil
}

// ProcessProposal holds another proposer to the policy.
func (a *App) ProcessProposal(_ context.Context, req *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	err := a.m.Process(pebbleStore{a.db}, req.ProposerAddress, req.Time, req.Txs)
	if err != nil {
		var le *ledger.Error
		if !errors.As(err, &le) {
			return nil, err
		}
		a.log.Warn("rejected proposal", "height", req.Height, "reason", err)
		return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_REJECT}, nil
	}
	return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock executes a decided block; Commit makes it durable.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	var signers [][]byte
	for _, v := range req.DecidedLastCommit.Votes {
		if v.BlockIdFlag == cmtproto.BlockIDFlagCommit {
			signers = append(signers, v.Validator.Address)
		}
	}
	res, err := a.m.Execute(pebbleStore{a.db}, a.tree, ledger.Block{Height: req.Height, Time: req.Time, Txs: req.Txs, Signers: signers})
	if err != nil {
		return nil, err
	}
	out := &abci.ResponseFinalizeBlock{AppHash: res.AppHash[:], TxResults: make([]*abci.ExecTxResult, len(res.TxResults))}
	for i, r := range res.TxResults {
		tr := &abci.ExecTxResult{Code: uint32(r.Code), Log: r.Log}
		if r.Code != ledger.CodeOK {
			tr.Codespace = ledger.Codespace
		}
		for _, e := range r.Events {
			ev := abci.Event{Type: e.Type}
			for _, at := range e.Attrs {
				ev.Attributes = append(ev.Attributes, abci.EventAttribute{Key: at.Key, Value: at.Value, Index: true})
			}
			tr.Events = append(tr.Events, ev)
		}
		out.TxResults[i] = tr
	}
	for _, u := range res.ValidatorUpdates {
		out.ValidatorUpdates = append(out.ValidatorUpdates, abci.Ed25519ValidatorUpdate(u.PubKey, u.Power))
	}
	a.mu.Lock()
	a.pending = &pendingBlock{height: req.Height, res: res}
	a.mu.Unlock()
	return out, nil
}

// Commit writes the finalized block's state durably.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	a.mu.Lock()
	p := a.pending
	a.pending = nil
	a.mu.Unlock()
	if p == nil {
		return nil, errors.New("commit without a finalized block")
	}
	if err := a.commit(p.height, p.res); err != nil {
		return nil, err
	}
	// The mempool, locked meanwhile, rechecks what it holds next.
	a.m.Committed()
	return &abci.ResponseCommit{}, nil
}

// commit writes a block's state changes, the state tree's new nodes, and
// the new height and app hash in one synced batch.
func (a *App) commit(height int64, res *ledger.Result) error {
	b := a.db.NewBatch()
	defer b.Close()
	if err := a.tree.Commit(); err != nil {
		return err
	}
	err := a.treeW.Flush(func(k, v []byte) error {
		if v == nil {
			return b.Delete(treeKey(k), nil)
		}
		return b.Set(treeKey(k), v, nil)
	})
	if err != nil {
		return err
	}
	for _, w := range res.Writes {
		var err error
		if w.Value == nil {
			err = b.Delete(w.Key, nil)
		} else {
			err = b.Set(w.Key, w.Value, nil)
		}
		if err != nil {
			return err
		}
	}
	if err := b.Set(metaHeight, binary.BigEndian.AppendUint64(nil, uint64(height)), nil); err != nil {
		return err
	}
	if err := b.Set(metaAppHash, res.AppHash[:], nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("commit height %d: %w", height, err)
	}
	a.mu.Lock()
	a.height, a.appHash = height, res.AppHash
	a.mu.Unlock()
	return nil
}

// Query answers the ledger's queries (see ledger.Query) on committed state:
// a snapshot, so that the answer, its height and its proof are of one
// state. With Prove, the answer to a query of one key (ledger.StateKey)
// carries the proof of that key's value, or of its absence, against the
// app hash (one ProofOp of type statetree.ProofOpType, Key the state key,
// Data the proof); the app hash after block Height is in header Height+1.
// A listing (ledger.ErrNotProvable) comes without a proof.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	if strings.HasPrefix(req.Path, "/p2p/filter/") {
		if a.stopping.Load() {
			return &abci.ResponseQuery{Code: QueryFailed, Log: "node stopping"}, nil
		}
		return &abci.ResponseQuery{}, nil
	}
	snap := a.db.NewSnapshot()
	defer snap.Close()
	st := pebbleStore{snap}
	fail := func(err error) (*abci.ResponseQuery, error) {
		return &abci.ResponseQuery{Code: QueryFailed, Log: err.Error(), Codespace: ledger.Codespace}, nil
	}
	var h int64
	var appHash []byte
	if b, err := st.Get(metaHeight); err != nil {
		return fail(err)
	} else if len(b) == 8 {
		h = int64(binary.BigEndian.Uint64(b))
	}
	appHash, err := st.Get(metaAppHash)
	if err != nil {
		return fail(err)
	}
	v, err := ledger.Query(st, req.Path)
	var out *abci.ResponseQuery
	switch {
	case err == nil:
		out = &abci.ResponseQuery{Value: v, Height: h}
	case errors.Is(err, ledger.ErrNotFound):
		out = &abci.ResponseQuery{Code: QueryNotFound, Log: err.Error(), Height: h, Codespace: ledger.Codespace}
	case errors.Is(err, ledger.ErrBadQuery):
		return &abci.ResponseQuery{Code: QueryBad, Log: err.Error(), Height: h, Codespace: ledger.Codespace}, nil
	default:
		return fail(err)
	}
	if !req.Prove {
		return out, nil
	}
	k, err := ledger.StateKey(req.Path)
	if errors.Is(err, ledger.ErrNotProvable) {
		return out, nil
	}
	if err != nil {
		return fail(err)
	}
	raw, err := st.Get(k)
	if err != nil {
		return fail(err)
	}
	p, err := statetree.Open(treeNodes{snap}, appHash).Prove(k, raw, raw != nil)
	if err != nil {
		return fail(err)
	}
	data, err := p.Encode()
	if err != nil {
		return fail(err)
	}
	out.Key = k
	out.ProofOps = &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: statetree.ProofOpType, Key: k, Data: data}}}
	return out, nil
}

// StoreMemory is the memory the app's Pebble store holds outside the Go
// heap: its memtables (allocated, the current and those not yet freed) and
// its block cache.
func (a *App) StoreMemory() uint64 {
	m := a.db.Metrics()
	return m.MemTable.Size + m.MemTable.ZombieSize + uint64(m.BlockCache.Size)
}

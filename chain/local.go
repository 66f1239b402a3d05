package chain

import (
	"context"
	"fmt"
	"sync/atomic"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/ledger"
)

// localNode is a client.Node in process: CometBFT's local RPC client.
type localNode struct{ rpc *rpclocal.Local }

var _ client.Prover = localNode{}

var subscribers atomic.Int64

func (l localNode) Height(ctx context.Context) (int64, error) {
	st, err := l.rpc.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

func (l localNode) BroadcastTx(ctx context.Context, tx []byte) (uint32, string, error) {
	r, err := l.rpc.BroadcastTxSync(ctx, tx)
	if err != nil {
		return 0, "", err
	}
	return r.Code, r.Log, nil
}

func (l localNode) Query(ctx context.Context, path string) (uint32, []byte, string, error) {
	r, err := l.rpc.ABCIQuery(ctx, path, nil)
	if err != nil {
		return 0, nil, "", err
	}
	return r.Response.Code, r.Response.Value, r.Response.Log, nil
}

func (l localNode) ProvedQuery(ctx context.Context, path string) (*client.Proved, error) {
	r, err := l.rpc.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{Prove: true})
	if err != nil {
		return nil, err
	}
	q := r.Response
	p := &client.Proved{Code: q.Code, Value: q.Value, Log: q.Log, Height: q.Height}
	if q.ProofOps != nil && len(q.ProofOps.Ops) == 1 {
		p.Key, p.Proof = q.ProofOps.Ops[0].Key, q.ProofOps.Ops[0].Data
	}
	return p, nil
}

// Commit and Validators answer as the node's JSON-RPC does (the result,
// in CometBFT's JSON), for package lightclient to decode.
func (l localNode) Commit(ctx context.Context, height int64) ([]byte, error) {
	r, err := l.rpc.Commit(ctx, &height)
	if err != nil {
		return nil, err
	}
	return cmtjson.Marshal(r)
}

func (l localNode) Validators(ctx context.Context, height int64, page int) ([]byte, error) {
	perPage := 100
	r, err := l.rpc.Validators(ctx, &height, &page, &perPage)
	if err != nil {
		return nil, err
	}
	return cmtjson.Marshal(r)
}

func (l localNode) Block(ctx context.Context, height int64) (*client.Block, error) {
	b, err := l.rpc.Block(ctx, &height)
	if err != nil {
		return nil, err
	}
	r, err := l.rpc.BlockResults(ctx, &height)
	if err != nil {
		return nil, err
	}
	return toClientBlock(b.Block, r.TxsResults), nil
}

func (l localNode) NewBlocks(ctx context.Context) (<-chan *client.Block, error) {
	subscriber := fmt.Sprintf("vitalchain-client-%d", subscribers.Add(1))
	q := types.QueryForEvent(types.EventNewBlock).String()
	ch, err := l.rpc.Subscribe(ctx, subscriber, q, 1000)
	if err != nil {
		return nil, fmt.Errorf("subscribe to new blocks: %w", err)
	}
	out := make(chan *client.Block, 64)
	go func() {
		defer close(out)
		defer l.rpc.UnsubscribeAll(context.Background(), subscriber)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-ch:
				nb, ok := ev.Data.(types.EventDataNewBlock)
				if !ok || nb.Block == nil {
					continue
				}
				select {
				case out <- toClientBlock(nb.Block, nb.ResultFinalizeBlock.TxResults):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func toClientBlock(b *types.Block, results []*abci.ExecTxResult) *client.Block {
	out := &client.Block{Height: b.Height, Time: b.Time, Txs: make([][]byte, len(b.Txs))}
	for i, tx := range b.Txs {
		out.Txs[i] = tx
	}
	for _, r := range results {
		tr := client.TxResult{Code: r.Code, Log: r.Log}
		for _, e := range r.Events {
			le := ledger.Event{Type: e.Type}
			for _, a := range e.Attributes {
				le.Attrs = append(le.Attrs, ledger.Attr{Key: a.Key, Value: a.Value})
			}
			tr.Events = append(tr.Events, le)
		}
		out.Results = append(out.Results, tr)
	}
	return out
}

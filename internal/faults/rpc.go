package faults

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// rpc reads what the suite needs of a node's CometBFT RPC: heights, block
// hashes and times, transactions, the proposer. (Package client covers
// what the load needs; it hides block hashes, which the fork check
// compares.)
type rpc struct {
	base string // http://host:port
	hc   *http.Client
}

func newRPC(hostport string) rpc {
	return rpc{base: "http://" + hostport, hc: &http.Client{Timeout: 3 * time.Second}}
}

// get calls path and decodes the JSON-RPC result into v.
func (r rpc) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %s %s", path, env.Error.Message, env.Error.Data)
	}
	return json.Unmarshal(env.Result, v)
}

// status returns the node's latest height and its validator address.
func (r rpc) status(ctx context.Context) (height int64, validator string, err error) {
	var st struct {
		SyncInfo struct {
			LatestBlockHeight string `json:"latest_block_height"`
		} `json:"sync_info"`
		ValidatorInfo struct {
			Address string `json:"address"`
		} `json:"validator_info"`
	}
	if err := r.get(ctx, "/status", &st); err != nil {
		return 0, "", err
	}
	h, err := strconv.ParseInt(st.SyncInfo.LatestBlockHeight, 10, 64)
	return h, st.ValidatorInfo.Address, err
}

// meta is a block as the fork check sees it.
type meta struct {
	Height int64
	Hash   string
	Time   time.Time
	Txs    int
}

// metas returns the metas of blocks from..to, ascending.
func (r rpc) metas(ctx context.Context, from, to int64) ([]meta, error) {
	var out []meta
	for lo := from; lo <= to; lo += 20 {
		hi := min(lo+19, to)
		var res struct {
			BlockMetas []struct {
				BlockID struct {
					Hash string `json:"hash"`
				} `json:"block_id"`
				Header struct {
					Height string    `json:"height"`
					Time   time.Time `json:"time"`
				} `json:"header"`
				NumTxs string `json:"num_txs"`
			} `json:"block_metas"`
		}
		if err := r.get(ctx, fmt.Sprintf("/blockchain?minHeight=%d&maxHeight=%d", lo, hi), &res); err != nil {
			return nil, err
		}
		if len(res.BlockMetas) != int(hi-lo+1) {
			return nil, fmt.Errorf("blockchain %d..%d: %d blocks", lo, hi, len(res.BlockMetas))
		}
		for k := len(res.BlockMetas) - 1; k >= 0; k-- { // newest first
			m := res.BlockMetas[k]
			h, err := strconv.ParseInt(m.Header.Height, 10, 64)
			if err != nil {
				return nil, err
			}
			n, _ := strconv.Atoi(m.NumTxs)
			out = append(out, meta{Height: h, Hash: m.BlockID.Hash, Time: m.Header.Time, Txs: n})
		}
	}
	return out, nil
}

// txHashes returns the SHA-256 of each transaction of the block at height.
func (r rpc) txHashes(ctx context.Context, height int64) (map[[32]byte]bool, error) {
	var res struct {
		Block struct {
			Data struct {
				Txs []string `json:"txs"`
			} `json:"data"`
		} `json:"block"`
	}
	if err := r.get(ctx, "/block?height="+strconv.FormatInt(height, 10), &res); err != nil {
		return nil, err
	}
	out := map[[32]byte]bool{}
	for _, t := range res.Block.Data.Txs {
		b, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", height, err)
		}
		out[sha256.Sum256(b)] = true
	}
	return out, nil
}

// proposer returns the validator address of the current round's proposer.
func (r rpc) proposer(ctx context.Context) (string, error) {
	var res struct {
		RoundState struct {
			Proposer struct {
				Address string `json:"address"`
			} `json:"proposer"`
		} `json:"round_state"`
	}
	if err := r.get(ctx, "/consensus_state", &res); err != nil {
		return "", err
	}
	if _, err := hex.DecodeString(res.RoundState.Proposer.Address); err != nil || res.RoundState.Proposer.Address == "" {
		return "", fmt.Errorf("consensus_state: no proposer address")
	}
	return res.RoundState.Proposer.Address, nil
}

package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/statetree"
)

// Bounds on what a node may send back.
const (
	maxResponseBytes = 64 << 20
	maxEventBytes    = 64 << 20
)

// ErrRPC is an error answer from the node's JSON-RPC server.
var ErrRPC = errors.New("node rpc error")

// HTTPNode is a Node reached over CometBFT's JSON-RPC: requests over HTTP,
// new blocks through a websocket subscription.
type HTTPNode struct {
	base string // http://host:port
	hc   *http.Client
	tls  *tls.Config // for an https:// node; nil: the system's roots
	log  *slog.Logger
	id   atomic.Int64
}

// NodeOption configures an HTTPNode.
type NodeOption func(*HTTPNode)

// WithTLS makes an https:// node's certificate checked against cfg (its
// RootCAs: a deployment's CA, see package pki) for requests and the
// websocket alike.
func WithTLS(cfg *tls.Config) NodeOption {
	return func(n *HTTPNode) { n.tls = cfg }
}

// NewHTTPNode returns a Node for the RPC address addr (http://host:port,
// https://host:port or tcp://host:port).
func NewHTTPNode(addr string, log *slog.Logger, opts ...NodeOption) (*HTTPNode, error) {
	addr = strings.Replace(addr, "tcp://", "http://", 1)
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("node address %q: want http://host:port", addr)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &HTTPNode{base: strings.TrimSuffix(u.String(), "/"), log: log}
	for _, o := range opts {
		o(n)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = n.tls
	n.hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	return n, nil
}

type rpcRequest struct {
	Version string         `json:"jsonrpc"`
	ID      int64          `json:"id"`
	Method  string         `json:"method"`
	Params  map[string]any `json:"params"`
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error"`
}

func (r *rpcResponse) err(method string) error {
	if r.Error != nil {
		return fmt.Errorf("%s: %w %d: %s %s", method, ErrRPC, r.Error.Code, r.Error.Message, r.Error.Data)
	}
	if len(r.Result) == 0 {
		return fmt.Errorf("%s: %w: empty answer", method, ErrRPC)
	}
	return nil
}

func (n *HTTPNode) call(ctx context.Context, method string, params map[string]any, out any) error {
	if params == nil {
		params = map[string]any{}
	}
	body, err := json.Marshal(rpcRequest{Version: "2.0", ID: n.id.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", method, err)
	}
	if len(raw) > maxResponseBytes {
		return fmt.Errorf("%s: answer over %d bytes", method, maxResponseBytes)
	}
	var r rpcResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: http %d: %w", method, resp.StatusCode, err)
	}
	if err := r.err(method); err != nil {
		return err
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", method, err)
	}
	return nil
}

// jsonInt is an integer CometBFT writes either bare or, for 64-bit ones,
// quoted.
type jsonInt int64

func (i *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("integer %q: %w", b, err)
	}
	*i = jsonInt(v)
	return nil
}

// Height implements Node.
func (n *HTTPNode) Height(ctx context.Context) (int64, error) {
	var st struct {
		SyncInfo struct {
			LatestBlockHeight jsonInt `json:"latest_block_height"`
		} `json:"sync_info"`
	}
	if err := n.call(ctx, "status", nil, &st); err != nil {
		return 0, err
	}
	return int64(st.SyncInfo.LatestBlockHeight), nil
}

// BroadcastTx implements Node.
func (n *HTTPNode) BroadcastTx(ctx context.Context, tx []byte) (uint32, string, error) {
	var r struct {
		Code jsonInt `json:"code"`
		Log  string  `json:"log"`
	}
	if err := n.call(ctx, "broadcast_tx_sync", map[string]any{"tx": tx}, &r); err != nil {
		return 0, "", err
	}
	return uint32(r.Code), r.Log, nil
}

// Query implements Node.
func (n *HTTPNode) Query(ctx context.Context, path string) (uint32, []byte, string, error) {
	var r struct {
		Response struct {
			Code  jsonInt `json:"code"`
			Log   string  `json:"log"`
			Value []byte  `json:"value"`
		} `json:"response"`
	}
	if err := n.call(ctx, "abci_query", map[string]any{"path": path}, &r); err != nil {
		return 0, nil, "", err
	}
	return uint32(r.Response.Code), r.Response.Value, r.Response.Log, nil
}

// ProvedQuery implements Prover.
func (n *HTTPNode) ProvedQuery(ctx context.Context, path string) (*Proved, error) {
	var r json.RawMessage
	if err := n.call(ctx, "abci_query", map[string]any{"path": path, "prove": true}, &r); err != nil {
		return nil, err
	}
	return parseProved(r)
}

// parseProved decodes the result of an abci_query with prove=true: the
// answer and its one proof op, if any (the Client verifies the rest).
func parseProved(result []byte) (*Proved, error) {
	var r struct {
		Response struct {
			Code     jsonInt `json:"code"`
			Log      string  `json:"log"`
			Value    []byte  `json:"value"`
			Height   jsonInt `json:"height"`
			ProofOps *struct {
				Ops []struct {
					Type string `json:"type"`
					Key  []byte `json:"key"`
					Data []byte `json:"data"`
				} `json:"ops"`
			} `json:"proofOps"`
		} `json:"response"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, fmt.Errorf("abci_query: decode answer: %w", err)
	}
	if r.Response.Height < 0 {
		return nil, fmt.Errorf("%w: abci_query: height %d", ErrBadProof, r.Response.Height)
	}
	p := &Proved{Code: uint32(r.Response.Code), Value: r.Response.Value, Log: r.Response.Log, Height: int64(r.Response.Height)}
	if ops := r.Response.ProofOps; ops != nil {
		if len(ops.Ops) != 1 || ops.Ops[0].Type != statetree.ProofOpType {
			return nil, fmt.Errorf("%w: %d proof ops, want one of type %s", ErrBadProof, len(ops.Ops), statetree.ProofOpType)
		}
		p.Key, p.Proof = ops.Ops[0].Key, ops.Ops[0].Data
	}
	return p, nil
}

// raw calls method and returns its JSON result as it came.
func (n *HTTPNode) raw(ctx context.Context, method string, params map[string]any) ([]byte, error) {
	var out json.RawMessage
	if err := n.call(ctx, method, params, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Commit implements Prover.
func (n *HTTPNode) Commit(ctx context.Context, height int64) ([]byte, error) {
	return n.raw(ctx, "commit", map[string]any{"height": strconv.FormatInt(height, 10)})
}

// Validators implements Prover.
func (n *HTTPNode) Validators(ctx context.Context, height int64, page int) ([]byte, error) {
	return n.raw(ctx, "validators", map[string]any{"height": strconv.FormatInt(height, 10), "page": strconv.Itoa(page), "per_page": "100"})
}

// The JSON shapes of CometBFT's blocks and results that the Client needs.
type (
	jsonBlock struct {
		Header struct {
			Height jsonInt   `json:"height"`
			Time   time.Time `json:"time"`
		} `json:"header"`
		Data struct {
			Txs [][]byte `json:"txs"`
		} `json:"data"`
	}
	jsonTxResult struct {
		Code   jsonInt `json:"code"`
		Log    string  `json:"log"`
		Events []struct {
			Type       string `json:"type"`
			Attributes []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"attributes"`
		} `json:"events"`
	}
)

func toBlock(b *jsonBlock, results []jsonTxResult) (*Block, error) {
	if b == nil || b.Header.Height <= 0 {
		return nil, errors.New("block without a height")
	}
	if len(results) != len(b.Data.Txs) {
		return nil, fmt.Errorf("block %d: %d transactions, %d results", b.Header.Height, len(b.Data.Txs), len(results))
	}
	out := &Block{Height: int64(b.Header.Height), Time: b.Header.Time, Txs: b.Data.Txs, Results: make([]TxResult, len(results))}
	for i, r := range results {
		tr := TxResult{Code: uint32(r.Code), Log: r.Log}
		for _, e := range r.Events {
			le := ledger.Event{Type: e.Type}
			for _, a := range e.Attributes {
				le.Attrs = append(le.Attrs, ledger.Attr{Key: a.Key, Value: a.Value})
			}
			tr.Events = append(tr.Events, le)
		}
		out.Results[i] = tr
	}
	return out, nil
}

// Block implements Node.
func (n *HTTPNode) Block(ctx context.Context, height int64) (*Block, error) {
	h := strconv.FormatInt(height, 10)
	var b struct {
		Block *jsonBlock `json:"block"`
	}
	if err := n.call(ctx, "block", map[string]any{"height": h}, &b); err != nil {
		return nil, err
	}
	var r struct {
		TxsResults []jsonTxResult `json:"txs_results"`
	}
	if err := n.call(ctx, "block_results", map[string]any{"height": h}, &r); err != nil {
		return nil, err
	}
	out, err := toBlock(b.Block, r.TxsResults)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", height, err)
	}
	return out, nil
}

// newBlockEvent is the websocket message of a NewBlock event.
type newBlockEvent struct {
	Result struct {
		Data struct {
			Type  string `json:"type"`
			Value struct {
				Block   *jsonBlock `json:"block"`
				Results struct {
					TxResults []jsonTxResult `json:"tx_results"`
				} `json:"result_finalize_block"`
			} `json:"value"`
		} `json:"data"`
	} `json:"result"`
}

// parseNewBlock decodes a websocket message; a message that is not a
// NewBlock event (the subscription's acknowledgement) is (nil, nil).
func parseNewBlock(msg []byte) (*Block, error) {
	var ev newBlockEvent
	if err := json.Unmarshal(msg, &ev); err != nil {
		return nil, fmt.Errorf("new block event: %w", err)
	}
	if ev.Result.Data.Type != "tendermint/event/NewBlock" {
		return nil, nil
	}
	return toBlock(ev.Result.Data.Value.Block, ev.Result.Data.Value.Results.TxResults)
}

// NewBlocks implements Node: it subscribes over the websocket, and
// subscribes again, with backoff, whenever the connection drops or cannot
// be made (a proxy that refuses websockets): meanwhile the Client follows
// the chain by asking for its height.
func (n *HTTPNode) NewBlocks(ctx context.Context) (<-chan *Block, error) {
	ws := "ws" + strings.TrimPrefix(n.base, "http") + "/websocket"
	out := make(chan *Block, 64)
	go func() {
		defer close(out)
		backoff := 100 * time.Millisecond
		for {
			if conn, err := n.subscribe(ctx, ws); err == nil {
				backoff = 100 * time.Millisecond
				n.readBlocks(ctx, conn, out)
				conn.Close()
			} else {
				n.log.Debug("subscribe to new blocks", "err", err)
				backoff = min(2*backoff, 5*time.Second)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}()
	return out, nil
}

func (n *HTTPNode) subscribe(ctx context.Context, ws string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: n.tls}
	conn, _, err := d.DialContext(ctx, ws, nil)
	if err != nil {
		return nil, fmt.Errorf("subscribe to new blocks: %w", err)
	}
	conn.SetReadLimit(maxEventBytes)
	req := rpcRequest{Version: "2.0", ID: n.id.Add(1), Method: "subscribe", Params: map[string]any{"query": "tm.event='NewBlock'"}}
	if err := conn.WriteJSON(req); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe to new blocks: %w", err)
	}
	return conn, nil
}

// readBlocks forwards blocks until the connection fails or ctx ends. A
// block the reader is not ready for is dropped: the Client catches up.
func (n *HTTPNode) readBlocks(ctx context.Context, conn *websocket.Conn, out chan<- *Block) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() == nil {
				n.log.Debug("new blocks connection", "err", err)
			}
			return
		}
		var r rpcResponse
		if json.Unmarshal(msg, &r) == nil && r.Error != nil {
			n.log.Debug("new blocks subscription", "err", r.err("subscribe"))
			return
		}
		b, err := parseNewBlock(msg)
		if err != nil {
			n.log.Debug("new block event", "err", err)
			continue
		}
		if b == nil {
			continue
		}
		select {
		case out <- b:
		default:
		}
	}
}

// Genesis returns the node's answer to /genesis (for a root of trust on
// first use: see GenesisTrust).
func (n *HTTPNode) Genesis(ctx context.Context) ([]byte, error) { return n.raw(ctx, "genesis", nil) }

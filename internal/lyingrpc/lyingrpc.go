// Package lyingrpc is a hostile ledger node for tests: a JSON-RPC proxy in
// front of a real node that passes everything through except what its
// Rewrite changes (a query's value, its proof, a header), so that tests
// show that clients refuse the lies.
package lyingrpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// Call is one JSON-RPC call as the proxy saw it, with the node's result.
type Call struct {
	Method string
	Params map[string]any
	Result map[string]any // the node's result, decoded; Rewrite may change it
}

// Rewrite changes a call's result in place and reports whether it did.
type Rewrite func(c *Call) bool

// Proxy is the lying node: an http.Handler.
type Proxy struct {
	up      *url.URL
	ws      *httputil.ReverseProxy
	mu      sync.Mutex
	rewrite Rewrite
	// Lies counts the answers Rewrite changed.
	Lies atomic.Int64
}

// New returns a proxy to the node at upstream (http://host:port).
func New(upstream string) (*Proxy, error) {
	u, err := url.Parse(strings.Replace(upstream, "tcp://", "http://", 1))
	if err != nil {
		return nil, err
	}
	return &Proxy{up: u, ws: httputil.NewSingleHostReverseProxy(u)}, nil
}

// SetRewrite sets what the proxy changes (nil: nothing).
func (p *Proxy) SetRewrite(r Rewrite) {
	p.mu.Lock()
	p.rewrite = r
	p.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		p.ws.ServeHTTP(w, r) // the websocket, and GETs
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params map[string]any  `json:"params"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := http.Post(p.up.String(), "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	rw := p.rewrite
	p.mu.Unlock()
	if rw != nil {
		var env map[string]any
		if json.Unmarshal(out, &env) == nil {
			if res, ok := env["result"].(map[string]any); ok {
				c := &Call{Method: req.Method, Params: req.Params, Result: res}
				if rw(c) {
					p.Lies.Add(1)
					env["result"] = c.Result
					if b, err := json.Marshal(env); err == nil {
						out = b
					}
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	w.Write(out) //nolint:errcheck // the client sees a short answer
}

// Query returns a call's ABCI query path and response, if it is one.
func (c *Call) Query() (path string, resp map[string]any, ok bool) {
	if c.Method != "abci_query" {
		return "", nil, false
	}
	path, _ = c.Params["path"].(string)
	resp, ok = c.Result["response"].(map[string]any)
	return path, resp, ok
}

// Header returns a /commit call's header, if it is one.
func (c *Call) Header() (map[string]any, bool) {
	if c.Method != "commit" {
		return nil, false
	}
	sh, _ := c.Result["signed_header"].(map[string]any)
	h, ok := sh["header"].(map[string]any)
	return h, ok
}

// String describes the call.
func (c *Call) String() string { return fmt.Sprintf("%s %v", c.Method, c.Params) }

package cloud

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
)

// Limits bound what the cloud's HTTP server gives all clients together and
// one client alone, so that abuse within them cannot knock it over. A
// connection over MaxConns is closed at once; a request over MaxInFlight
// (or, for long polls, MaxLongPolls) is answered 503 "busy" at once; a
// client address over its rate is answered 429 "rate_limited", as is a
// signer over its rate (signed reads, access-log listings and alerts
// requests each cost a durable write). Timeouts shed slow and idle
// connections. /healthz is exempt from the request limits, so that a
// saturated cloud still says it lives.
type Limits struct {
	MaxConns     int // open connections (default 4096)
	MaxInFlight  int // requests being served, long polls apart (default 256)
	MaxLongPolls int // alerts requests waiting (default 1024)
	// AddressRate and AddressBurst: requests per second per client
	// address (default 200, burst 400); 0: no limit.
	AddressRate  float64
	AddressBurst int
	// SignerRate and SignerBurst: signed requests per second per requester
	// (default 20, burst 40); 0: no limit.
	SignerRate  float64
	SignerBurst int
	// Timeouts: to read a request's header (default 5 s) and whole body
	// (default 30 s), to write an answer (default MaxAlertWait + 15 s), and
	// an idle keep-alive connection's (default 60 s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int // default 16 KiB
}

// DefaultLimits returns the limits of a cloud in front of a cluster's
// gateways and providers.
func DefaultLimits() Limits {
	return Limits{MaxConns: 4096, MaxInFlight: 256, MaxLongPolls: 1024, AddressRate: 200, AddressBurst: 400,
		SignerRate: 20, SignerBurst: 40, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: cloudapi.MaxAlertWait + 15*time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
}

// ErrRateLimited is a request over its client's or signer's rate.
var ErrRateLimited = errors.New("rate limited")

// Server is the cloud's HTTP API served within Limits.
type Server struct {
	*http.Server
	ln       *capListener
	inflight chan struct{}
	polls    chan struct{}
	byAddr   *limiters
}

// NewServer returns the server of s's API (metrics from gatherer, if not
// nil) within l; Serve or ServeTLS it on a listener.
func (s *Service) NewServer(l Limits, gatherer prometheus.Gatherer) *Server {
	srv := &Server{inflight: make(chan struct{}, l.MaxInFlight), polls: make(chan struct{}, l.MaxLongPolls),
		byAddr: newLimiters(rate.Limit(l.AddressRate), l.AddressBurst)}
	s.signers = newLimiters(rate.Limit(l.SignerRate), l.SignerBurst)
	srv.Server = &http.Server{Handler: srv.limit(s, s.Handler(gatherer)), ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
	srv.ln = &capListener{max: int64(l.MaxConns), refused: s.m.connsRefused}
	return srv
}

// Serve serves on ln, capped at MaxConns connections.
func (srv *Server) Serve(ln net.Listener) error {
	srv.ln.Listener = ln
	return srv.Server.Serve(srv.ln)
}

// ServeTLS serves TLS on ln, capped at MaxConns connections.
func (srv *Server) ServeTLS(ln net.Listener, cert, key string) error {
	srv.ln.Listener = ln
	return srv.Server.ServeTLS(srv.ln, cert, key)
}

// Conns returns the open connections.
func (srv *Server) Conns() int64 { return srv.ln.open.Load() }

// limit applies the request limits around h.
func (srv *Server) limit(s *Service, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			h.ServeHTTP(w, r)
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if !srv.byAddr.allow(host) {
			s.m.httpRefused.WithLabelValues(cloudapi.CodeRateLimited).Inc()
			problem(w, http.StatusTooManyRequests, cloudapi.CodeRateLimited, fmt.Errorf("%w: address %s over %v requests/s", ErrRateLimited, host, srv.byAddr.r))
			return
		}
		slots := srv.inflight
		if r.URL.Path == "/v1/alerts" {
			slots = srv.polls
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			s.m.httpRefused.WithLabelValues(cloudapi.CodeBusy).Inc()
			problem(w, http.StatusServiceUnavailable, cloudapi.CodeBusy, fmt.Errorf("%d requests in flight", cap(slots)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// capListener closes the connections it accepts beyond max at once.
type capListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused interface{ Inc() }
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Inc()
			c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

type countedConn struct {
	net.Conn
	l    *capListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// limiters are token buckets by key, at most maxLimiters of them: when
// full, the idle ones (whose bucket has refilled) are dropped.
type limiters struct {
	r     rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

const maxLimiters = 1 << 16

// newLimiters returns token buckets of rate r and burst; nil (no limit)
// for a rate of 0.
func newLimiters(r rate.Limit, burst int) *limiters {
	if r == 0 {
		return nil
	}
	return &limiters{r: r, burst: max(burst, 1), m: map[string]*rate.Limiter{}}
}

// allow takes a token of key's bucket, if it has one. Nil limiters allow
// everything.
func (ls *limiters) allow(key string) bool {
	if ls == nil {
		return true
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.m[key]
	if !ok {
		if len(ls.m) >= maxLimiters {
			now := time.Now()
			for k, l := range ls.m {
				if l.TokensAt(now) >= float64(ls.burst) {
					delete(ls.m, k)
				}
			}
			if len(ls.m) >= maxLimiters {
				return false // every bucket busy: refuse newcomers rather than grow
			}
		}
		l = rate.NewLimiter(ls.r, ls.burst)
		ls.m[key] = l
	}
	return l.Allow()
}

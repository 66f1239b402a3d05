package testbed

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/identity"
)

// CloudOptions configure StartCloud.
type CloudOptions struct {
	Key *identity.Identity // the cloud's identity, registered on the chain
	// Store is the cloud's store; nil: a Pebble store in Dir.
	Store cloud.Store
	// Lease, if not nil, is the lease of the processes sharing Store (see
	// cloud.Config.Lease): the cloud sequences once it holds it.
	Lease cloud.Lease
	Dir   string
	// Ledger nodes, the cloud's own head's first.
	Clients             []*client.Client
	BlockRecords        uint64        // default 1<<16
	BlockInterval       time.Duration // default 200 ms
	AccessBlockInterval time.Duration // default BlockInterval
	// Limits of the HTTP server (zero: cloud.DefaultLimits()).
	Limits cloud.Limits
	Log    *slog.Logger
}

// Cloud is a cloud service with its HTTP API on a loopback port.
type Cloud struct {
	ID      *identity.Identity
	Service *cloud.Service
	Store   cloud.Store
	URL     string // http://127.0.0.1:port

	srv    *cloud.Server
	served chan struct{}
	own    bool // Store was opened here: Close closes it
}

// StartCloud starts a cloud and serves its API.
func StartCloud(ctx context.Context, o CloudOptions) (*Cloud, error) {
	if o.BlockRecords == 0 {
		o.BlockRecords = 1 << 16
	}
	if o.BlockInterval == 0 {
		o.BlockInterval = 200 * time.Millisecond
	}
	c := &Cloud{ID: o.Key, Store: o.Store}
	if c.Store == nil {
		st, err := pebblestore.Open(o.Dir)
		if err != nil {
			return nil, err
		}
		c.Store, c.own = st, true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Close()
		return nil, err
	}
	c.URL = "http://" + ln.Addr().String()
	c.Service, err = cloud.New(ctx, cloud.Config{Key: o.Key.Signing, Store: c.Store, Log: o.Log,
		Ledger:        cloud.NewChainLedger(o.Clients, o.Key.Signing, 5*time.Second),
		BlockInterval: o.BlockInterval, AccessBlockInterval: o.AccessBlockInterval, BlockRecords: o.BlockRecords,
		Lease: o.Lease, URL: c.URL})
	if err != nil {
		ln.Close()
		c.Close()
		return nil, err
	}
	if o.Limits == (cloud.Limits{}) {
		o.Limits = cloud.DefaultLimits()
	}
	c.srv = c.Service.NewServer(o.Limits, nil)
	c.served = make(chan struct{})
	go func() {
		defer close(c.served)
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && o.Log != nil {
			o.Log.Error("cloud server", "err", err)
		}
	}()
	return c, nil
}

// Client returns a client of the cloud's API.
func (c *Cloud) Client() *cloudapi.Client { return cloudapi.NewClient(c.URL, nil) }

// Close stops the server, the service and the store it opened.
func (c *Cloud) Close() error {
	var errs []error
	if c.srv != nil {
		errs = append(errs, c.srv.Close())
		<-c.served
	}
	if c.Service != nil {
		errs = append(errs, c.Service.Close())
	}
	if c.own {
		errs = append(errs, c.Store.Close())
	}
	return errors.Join(errs...)
}

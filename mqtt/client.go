package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mochi "github.com/mochi-mqtt/server/v2"
)

// ErrRefused: the broker refused a subscription or a publish (an MQTT 5
// reason code of 0x80 or more).
var ErrRefused = errors.New("refused by the mqtt broker")

// ErrBusy: the receiver could not take a published message now (an MQTT 5
// PUBACK with reason 0x97, quota exceeded, as Broker.SubscribeAck answers):
// publish it again later. It wraps ErrRefused.
var ErrBusy = fmt.Errorf("%w: the receiver is busy", ErrRefused)

// Client reconnection and protocol timing.
const (
	keepAlive       = 30 // seconds
	connectTimeout  = 10 * time.Second
	subscribeWait   = 10 * time.Second
	disconnectWait  = 5 * time.Second
	retryMin        = 250 * time.Millisecond
	retryInitialMax = time.Second
	retryMax        = 30 * time.Second
	retryFactor     = 2
)

// ClientConfig configures Connect.
type ClientConfig struct {
	// Broker is the broker's URL: mqtt://host:port (or tcp://), or
	// mqtts://host:port (or tls://, ssl://) for TLS. The port defaults to
	// 1883, or 8883 with TLS. Required.
	Broker string
	// ClientID identifies the client's session on the broker. Required.
	ClientID string
	// Subscriptions are topic filters subscribed at QoS 1 on every
	// connection, before Connect returns.
	Subscriptions []string
	// Handler receives the messages of the subscriptions. Required with
	// Subscriptions.
	Handler Handler
	// SessionExpiry, if positive, asks the broker to keep the session (the
	// subscriptions and the QoS 1 messages not yet acknowledged) for that
	// long after a disconnection, so that messages published meanwhile are
	// delivered on reconnection, also to a new process with the same
	// ClientID. Zero: a clean session, ended by disconnection.
	SessionExpiry time.Duration
	// MaxPacketSize refuses to publish packets over it, and asks the broker
	// not to send bigger ones. Default DefaultMaxPacketSize; lowered to the
	// broker's limit if it announces one.
	MaxPacketSize uint32
	// TLS configures mqtts:// connections. Nil: the system's roots.
	TLS *tls.Config
	// Logger receives connection events, without payloads. Nil discards.
	Logger *slog.Logger
}

// ClientStats are counters since Connect.
type ClientStats struct {
	Connected bool   // a connection is up now
	Connects  uint64 // connections made, the first included
	Received  uint64 // messages passed to the Handler
	Published uint64 // messages published and acknowledged
	Oversize  uint64 // publishes refused as over the maximum packet size
}

// Client is an MQTT 5 client that reconnects, with exponential backoff and
// jitter, until it is closed. It is safe for concurrent use.
type Client struct {
	cm      *autopaho.ConnectionManager
	cancel  context.CancelFunc
	log     *slog.Logger
	subs    []string
	handler Handler

	maxPacket atomic.Uint32 // ClientConfig.MaxPacketSize, or the broker's limit if lower

	connected                               atomic.Bool
	connects, received, published, oversize atomic.Uint64

	first     chan error // the first connection's subscription result
	firstOnce sync.Once

	mu      sync.Mutex
	lastErr error // the last connection error, for Connect's error

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error
}

// Connect connects to cfg.Broker and subscribes to cfg.Subscriptions. It
// returns when the first connection is up and subscribed, or with an error
// when ctx ends first; ctx does not bound the client's life (Close does).
func Connect(ctx context.Context, cfg ClientConfig) (*Client, error) {
	u, err := brokerURL(cfg.Broker)
	if err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("mqtt: connect: %w: no client id", ErrConfig)
	}
	for _, f := range cfg.Subscriptions {
		if !mochi.IsValidFilter(f, false) {
			return nil, fmt.Errorf("mqtt: connect: %w: invalid filter %q", ErrBadTopic, f)
		}
	}
	if len(cfg.Subscriptions) > 0 && cfg.Handler == nil {
		return nil, fmt.Errorf("mqtt: connect: %w: subscriptions without a handler", ErrConfig)
	}
	if cfg.SessionExpiry < 0 || cfg.SessionExpiry/time.Second > math.MaxUint32 {
		return nil, fmt.Errorf("mqtt: connect: %w: session expiry %s", ErrConfig, cfg.SessionExpiry)
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.MaxPacketSize < minPacketSize {
		return nil, fmt.Errorf("mqtt: connect: %w: max packet size %d, minimum %d", ErrConfig, cfg.MaxPacketSize, minPacketSize)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("broker", u.Redacted(), "client", cfg.ClientID)

	c := &Client{
		log:     log,
		subs:    cfg.Subscriptions,
		handler: cfg.Handler,
		first:   make(chan error, 1),
	}
	c.maxPacket.Store(cfg.MaxPacketSize)
	expiry := uint32(cfg.SessionExpiry / time.Second)
	if cfg.SessionExpiry > 0 && expiry == 0 {
		expiry = 1
	}
	maxPacket := cfg.MaxPacketSize

	ac := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        cfg.TLS,
		KeepAlive:                     keepAlive,
		CleanStartOnInitialConnection: expiry == 0,
		SessionExpiryInterval:         expiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(retryMin, retryMax, retryInitialMax, retryFactor),
		ConnectTimeout:                connectTimeout,
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.Properties.MaximumPacketSize = &maxPacket
			return cp, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
			if ca.Properties != nil && ca.Properties.MaximumPacketSize != nil && *ca.Properties.MaximumPacketSize < maxPacket {
				c.maxPacket.Store(*ca.Properties.MaximumPacketSize)
			} else {
				c.maxPacket.Store(maxPacket)
			}
			c.connected.Store(true)
			c.connects.Add(1)
			c.log.Info("mqtt: connected", "session_present", ca.SessionPresent)
			go c.subscribe(cm, ca.SessionPresent) // OnConnectionUp must not block
		},
		OnConnectionDown: func() bool {
			c.connected.Store(false)
			c.log.Info("mqtt: connection lost, reconnecting")
			return true
		},
		OnConnectError: func(err error) {
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
			c.log.Warn("mqtt: connection attempt failed", "error", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:          cfg.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){c.onPublish},
			OnClientError: func(err error) {
				c.log.Warn("mqtt: client error", "error", err)
			},
			OnServerDisconnect: func(d *paho.Disconnect) {
				c.log.Warn("mqtt: disconnected by the broker", "reason", d.ReasonCode)
			},
		},
	}
	life, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	cm, err := autopaho.NewConnection(life, ac)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mqtt: connect %s: %w", u.Redacted(), err)
	}
	c.cm = cm

	select {
	case err := <-c.first:
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		_ = c.Close()
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		if last != nil {
			return nil, fmt.Errorf("mqtt: connect %s: %w (last attempt: %w)", u.Redacted(), ctx.Err(), last)
		}
		return nil, fmt.Errorf("mqtt: connect %s: %w", u.Redacted(), ctx.Err())
	}
}

// brokerURL parses and checks a broker URL, adding the default port.
func brokerURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w: broker url: %w", ErrConfig, err)
	}
	port := "1883"
	switch u.Scheme = strings.ToLower(u.Scheme); u.Scheme {
	case "mqtt", "tcp":
		u.Scheme = "mqtt"
	case "mqtts", "tls", "ssl":
		u.Scheme, port = "mqtts", "8883"
	default:
		return nil, fmt.Errorf("mqtt: %w: broker url %s: scheme %q, want mqtt or mqtts", ErrConfig, u.Redacted(), u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("mqtt: %w: broker url %s: no host", ErrConfig, u.Redacted())
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

// subscribe subscribes to c.subs on a new connection and reports the first
// outcome to Connect. A refusal is final; a network error waits for the next
// connection.
func (c *Client) subscribe(cm *autopaho.ConnectionManager, sessionPresent bool) {
	var err error
	if len(c.subs) > 0 {
		err = c.subscribeRetry(cm)
		switch {
		case errors.Is(err, errPacketIDInUse) && sessionPresent:
			// The session still holds the subscriptions.
			c.log.Warn("mqtt: resubscribe failed, keeping the session's subscriptions", "error", err)
			err = nil
		case errors.Is(err, ErrRefused):
			c.log.Error("mqtt: subscription refused", "error", err)
		case err != nil:
			c.log.Warn("mqtt: subscribe failed, retrying on reconnection", "error", err)
			return
		}
	}
	c.firstOnce.Do(func() { c.first <- err })
}

// errPacketIDInUse: the broker refused a SUBSCRIBE because its packet ID is
// that of one of the broker's own unacknowledged PUBLISHes. mochi-mqtt keeps
// both directions' packet IDs in one map (mochi-mqtt/server issues #519,
// #545); it happens when a persistent session's queued messages are sent on
// reconnection, and clears once the handler has acknowledged them.
var errPacketIDInUse = errors.New("packet identifier in use")

const (
	reasonPacketIDInUse = 0x91
	subscribeAttempts   = 50
	subscribeRetryDelay = 100 * time.Millisecond
)

func (c *Client) subscribeRetry(cm *autopaho.ConnectionManager) error {
	for attempt := 1; ; attempt++ {
		err := c.subscribeAll(cm)
		if !errors.Is(err, errPacketIDInUse) || attempt == subscribeAttempts || c.closed.Load() {
			return err
		}
		time.Sleep(subscribeRetryDelay)
	}
}

func (c *Client) subscribeAll(cm *autopaho.ConnectionManager) error {
	ctx, cancel := context.WithTimeout(context.Background(), subscribeWait)
	defer cancel()
	sub := &paho.Subscribe{Subscriptions: make([]paho.SubscribeOptions, len(c.subs))}
	for i, f := range c.subs {
		sub.Subscriptions[i] = paho.SubscribeOptions{Topic: f, QoS: 1}
	}
	ack, err := cm.Subscribe(ctx, sub)
	if ack != nil {
		for i, code := range ack.Reasons {
			switch {
			case code == reasonPacketIDInUse:
				return fmt.Errorf("mqtt: subscribe: %w", errPacketIDInUse)
			case code >= 0x80 && i < len(c.subs):
				return fmt.Errorf("mqtt: subscribe %q: %w: reason 0x%02x", c.subs[i], ErrRefused, code)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("mqtt: subscribe: %w", err)
	}
	return nil
}

// onPublish passes a received message to the handler; paho acknowledges it
// when this returns.
func (c *Client) onPublish(pr paho.PublishReceived) (bool, error) {
	c.received.Add(1)
	if c.handler != nil {
		c.handler(pr.Packet.Topic, pr.Packet.Payload)
	}
	return true, nil
}

// Publish publishes payload to topic at QoS 1 and returns when the broker
// has acknowledged it. While the connection is down it waits for the next
// one, until ctx ends. An error does not mean that the message was not
// delivered (its acknowledgement may have been lost): retry, and count on
// the receiver being idempotent.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := checkTopicName(topic); err != nil {
		return err
	}
	if n, limit := publishSize(topic, len(payload)), c.maxPacket.Load(); n > int(limit) {
		c.oversize.Add(1)
		return fmt.Errorf("mqtt: publish: %w: %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	for {
		if c.closed.Load() {
			return fmt.Errorf("mqtt: publish: %w", ErrClosed)
		}
		if err := c.cm.AwaitConnection(ctx); err != nil {
			if c.closed.Load() {
				return fmt.Errorf("mqtt: publish: %w", ErrClosed)
			}
			return fmt.Errorf("mqtt: publish: waiting for a connection: %w", err)
		}
		resp, err := c.cm.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload})
		if errors.Is(err, autopaho.ConnectionDownError) {
			continue // lost between the wait and the send: nothing was sent
		}
		if resp != nil && resp.ReasonCode == 0x97 {
			return fmt.Errorf("mqtt: publish: %w", ErrBusy)
		}
		if resp != nil && resp.ReasonCode >= 0x80 {
			return fmt.Errorf("mqtt: publish: %w: reason 0x%02x", ErrRefused, resp.ReasonCode)
		}
		if err != nil {
			return fmt.Errorf("mqtt: publish: %w", err)
		}
		c.published.Add(1)
		return nil
	}
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Connected: c.connected.Load(),
		Connects:  c.connects.Load(),
		Received:  c.received.Load(),
		Published: c.published.Load(),
		Oversize:  c.oversize.Load(),
	}
}

// Close disconnects cleanly (a persistent session stays on the broker) and
// stops reconnecting. It waits, up to 5 s, for a running Handler call to
// return; do not call it from the Handler.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), disconnectWait)
		defer cancel()
		if err := c.cm.Disconnect(ctx); err != nil {
			c.closeErr = fmt.Errorf("mqtt: close: %w", err)
		}
		c.cancel()
		c.connected.Store(false)
	})
	return c.closeErr
}

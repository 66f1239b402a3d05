package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/vitalchain/vitalchain/identity"
)

// Defaults of BrokerConfig and ClientConfig.
const (
	// DefaultMaxInflight is 1024, not less: the bound also applies to a
	// connected subscriber, and with 64, 10 devices publishing as fast as
	// they can left a subscriber on loopback 114 messages behind, and 50 of
	// 2,000 messages were dropped.
	DefaultMaxInflight   = 1024
	DefaultSessionExpiry = time.Hour
	DefaultMaxPacketSize = 4096
)

// minPacketSize is the smallest MaxPacketSize accepted: room for a topic and
// a small payload.
const minPacketSize = 256

// Errors of the broker and the client, each wrapped with detail.
var (
	// ErrTooLarge: a message would exceed the maximum packet size.
	ErrTooLarge = errors.New("mqtt packet too large")
	// ErrClosed: the broker or client has been closed.
	ErrClosed = errors.New("mqtt transport closed")
	// ErrConfig: a BrokerConfig or ClientConfig is invalid.
	ErrConfig = errors.New("invalid mqtt config")
)

// Handler processes one message. The transport acknowledges a QoS 1 message
// (PUBACK) only after the handler returns, so a message whose handler did
// not return before a crash or a lost connection is delivered again (at
// least once): handlers must be idempotent. A Broker calls its handlers
// concurrently, one goroutine per publishing connection; a Client calls its
// handler from one goroutine, in order. The handler must not modify payload;
// it may keep it.
type Handler func(topic string, payload []byte)

// BrokerConfig configures StartBroker. Zero values take the defaults.
type BrokerConfig struct {
	// Addr is the TCP listen address, e.g. "127.0.0.1:1883", or
	// "127.0.0.1:0" for a free port (see Broker.URL). Required.
	Addr string
	// MaxInflight bounds the QoS 1 messages kept per session that are not
	// yet acknowledged: queued for an offline client, and also in flight to
	// a connected one that lags behind. Messages over the bound are dropped
	// and counted (BrokerStats.Dropped). Default DefaultMaxInflight; a
	// session then holds at most MaxInflight × MaxPacketSize bytes.
	MaxInflight uint16
	// SessionExpiry bounds how long the session of a disconnected
	// persistent client (MQTT 5 session expiry, or MQTT 3.1.1 clean session
	// false) is kept, and how long a queued message waits. Default
	// DefaultSessionExpiry; at least a second.
	SessionExpiry time.Duration
	// MaxPacketSize refuses bigger packets: the broker closes the
	// connection that sent one. Default DefaultMaxPacketSize.
	MaxPacketSize uint32
	// Logger receives the broker's logs, without payloads. Nil discards.
	Logger *slog.Logger
	// TLS, if set, makes the broker speak TLS only (mqtts://; ServerTLS).
	TLS *tls.Config
	// Authenticate, if set, admits only devices: a network client must
	// show, over TLS, a certificate whose Ed25519 key's ID is its client ID
	// and which Authenticate accepts (a device registered to Patient); it
	// may then publish only to its own readings topic and subscribe only
	// to its own commands topic, under Patient. It requires TLS.
	Authenticate func(device identity.ID) error
	Patient      identity.ID
	// MaxClients bounds the clients connected at once (default
	// DefaultMaxClients); sessions are kept only for the clients admitted,
	// so with Authenticate they are bounded too.
	MaxClients int
}

// DefaultMaxClients is BrokerConfig.MaxClients's default.
const DefaultMaxClients = 256

// BrokerStats are counters since StartBroker.
type BrokerStats struct {
	Clients   int64  // network clients connected now
	Received  uint64 // messages published by network clients
	Published uint64 // messages published in-process (Broker.Publish)
	Delivered uint64 // handler calls of in-process subscriptions
	Oversize  uint64 // packets refused as over MaxPacketSize
	Dropped   uint64 // QoS 1 messages dropped: a session's in-flight bound or write queue full, or expired unacknowledged
	Refused   uint64 // connections refused: not authenticated
	Denied    uint64 // publishes and subscriptions outside the client's own topics
}

// Broker is an embedded MQTT 3.1.1 and 5 broker listening on TCP, with
// in-process subscriptions.
type Broker struct {
	srv       *mochi.Server
	url       string
	maxPacket uint32
	log       *slog.Logger

	subs   *mochi.TopicsIndex // in-process subscriptions, run from the OnPublish hook
	nextID atomic.Int64
	ackMu  sync.RWMutex
	acks   map[int]AckHandler // the subscriptions, by identifier, whose handler decides the acknowledgement

	auth            func(identity.ID) error // admits devices (nil: everyone)
	patient         identity.ID
	refused, denied atomic.Uint64

	received, published, delivered, oversize, expired atomic.Uint64
	running                                           atomic.Int64 // in-process handlers running now
	unacked                                           atomic.Uint64

	closeOnce sync.Once
	closed    atomic.Bool
}

// StartBroker starts a broker listening on cfg.Addr.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Addr == "" {
		return nil, fmt.Errorf("mqtt: broker: %w: no listen address", ErrConfig)
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.SessionExpiry == 0 {
		cfg.SessionExpiry = DefaultSessionExpiry
	}
	if cfg.SessionExpiry < time.Second || cfg.SessionExpiry/time.Second > math.MaxUint32 {
		return nil, fmt.Errorf("mqtt: broker: %w: session expiry %s outside [1s, %ds]", ErrConfig, cfg.SessionExpiry, uint32(math.MaxUint32))
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.Authenticate != nil && cfg.TLS == nil {
		return nil, fmt.Errorf("mqtt: broker: %w: authenticating devices needs TLS", ErrConfig)
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.MaxPacketSize < minPacketSize {
		return nil, fmt.Errorf("mqtt: broker: %w: max packet size %d, minimum %d", ErrConfig, cfg.MaxPacketSize, minPacketSize)
	}
	expiry := uint32(cfg.SessionExpiry / time.Second)

	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumInflight = cfg.MaxInflight
	caps.MaximumSessionExpiryInterval = expiry
	caps.MaximumMessageExpiryInterval = int64(expiry)
	caps.MaximumPacketSize = cfg.MaxPacketSize
	caps.RetainAvailable = 0 // a retained reading would be replayed to every new subscriber
	caps.MaximumClients = int64(cfg.MaxClients)

	log := newRedactingLogger(cfg.Logger)
	srv := mochi.New(&mochi.Options{
		Capabilities:           caps,
		Logger:                 log,
		InlineClient:           true,
		SysTopicResendInterval: 60,
	})
	b := &Broker{
		srv:       srv,
		maxPacket: cfg.MaxPacketSize,
		log:       log,
		subs:      mochi.NewTopicsIndex(),
		acks:      map[int]AckHandler{},
		auth:      cfg.Authenticate,
		patient:   cfg.Patient,
	}
	if err := srv.AddHook(&brokerHook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "tcp", Address: cfg.Addr, TLSConfig: cfg.TLS})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("mqtt: broker: listen %s: %w", cfg.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("mqtt: broker: serve: %w", err)
	}
	b.url = "mqtt://" + tcp.Address()
	if cfg.TLS != nil {
		b.url = "mqtts://" + tcp.Address()
	}
	return b, nil
}

// URL returns the broker's address as a URL for ClientConfig.Broker, such as
// "mqtt://127.0.0.1:1883".
func (b *Broker) URL() string { return b.url }

// AckHandler handles a message in-process, as Handler does, and says
// whether the broker may acknowledge it: false refuses a network client's
// QoS 1 message, which the client must send again (MQTT 5: a PUBACK with
// reason 0x97 "quota exceeded", which Client.Publish returns as ErrBusy;
// MQTT 3.1.1, which has no reason codes: no PUBACK, and the client resends
// the message when it reconnects). Nothing is forwarded to subscribers then.
type AckHandler func(topic string, payload []byte) (ack bool)

// SubscribeAck is Subscribe with an AckHandler: the receiver of the
// messages decides whether they are acknowledged (it could not take them:
// its store full or failing), so that a sender keeps what was not taken.
func (b *Broker) SubscribeAck(filter string, h AckHandler) error {
	if h == nil {
		return fmt.Errorf("mqtt: subscribe %q: %w: nil handler", filter, ErrConfig)
	}
	refuse := func(string, []byte) {} // replaced in OnPublish by the ack handler
	if err := b.subscribe(filter, refuse, h); err != nil {
		return err
	}
	return nil
}

// Subscribe calls h, in-process, for every message published to a topic
// matching filter, by a network client or by Publish. For a network client's
// QoS 1 message, h runs before the broker acknowledges it. Filters may use
// the wildcards + and #.
func (b *Broker) Subscribe(filter string, h Handler) error {
	if h == nil {
		return fmt.Errorf("mqtt: subscribe %q: %w: nil handler", filter, ErrConfig)
	}
	return b.subscribe(filter, h, nil)
}

func (b *Broker) subscribe(filter string, h Handler, ah AckHandler) error {
	if !mochi.IsValidFilter(filter, false) {
		return fmt.Errorf("mqtt: subscribe: %w: invalid filter %q", ErrBadTopic, filter)
	}
	if b.closed.Load() {
		return fmt.Errorf("mqtt: subscribe: %w", ErrClosed)
	}
	id := int(b.nextID.Add(1))
	if ah != nil {
		b.ackMu.Lock()
		b.acks[id] = ah
		b.ackMu.Unlock()
	}
	b.subs.InlineSubscribe(mochi.InlineSubscription{
		Subscription: packets.Subscription{Filter: filter, Identifier: id},
		Handler: func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
			b.delivered.Add(1)
			b.running.Add(1)
			defer b.running.Add(-1)
			h(pk.TopicName, pk.Payload)
		},
	})
	return nil
}

// Publish publishes payload to topic, in-process: it calls the matching
// in-process handlers before it returns, and sends the message to the
// matching network subscribers at QoS 1 (or their subscription's QoS if
// lower), or queues it for them if they are offline with a persistent
// session.
func (b *Broker) Publish(topic string, payload []byte) error {
	if err := checkTopicName(topic); err != nil {
		return err
	}
	if n := publishSize(topic, len(payload)); n > int(b.maxPacket) {
		b.oversize.Add(1)
		return fmt.Errorf("mqtt: publish: %w: %d bytes, limit %d", ErrTooLarge, n, b.maxPacket)
	}
	if b.closed.Load() {
		return fmt.Errorf("mqtt: publish: %w", ErrClosed)
	}
	if err := b.srv.Publish(topic, payload, false, 1); err != nil {
		return fmt.Errorf("mqtt: publish: %w", err)
	}
	b.published.Add(1)
	return nil
}

// WaitIdle returns once no network client is connected and no in-process
// handler is running: every message a client published before it
// disconnected has been handled. It polls, and gives up when ctx ends.
func (b *Broker) WaitIdle(ctx context.Context) error {
	for atomic.LoadInt64(&b.srv.Info.ClientsConnected) > 0 || b.running.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("mqtt: broker not idle: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() BrokerStats {
	info := b.srv.Info
	return BrokerStats{
		Clients:   atomic.LoadInt64(&info.ClientsConnected),
		Received:  b.received.Load(),
		Published: b.published.Load(),
		Delivered: b.delivered.Load(),
		Oversize:  b.oversize.Load(),
		Refused:   b.refused.Load(),
		Denied:    b.denied.Load(),
		Dropped:   uint64(atomic.LoadInt64(&info.InflightDropped)+atomic.LoadInt64(&info.MessagesDropped)) + b.expired.Load(),
	}
}

// Close disconnects all clients, stops listening and waits for running
// handlers to return. Sessions and queued messages are lost: they live in
// memory only.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		err = b.srv.Close()
	})
	return err
}

// brokerHook admits every client (authenticity is in the payload's
// signature), runs the in-process subscriptions and counts.
type brokerHook struct {
	mochi.HookBase
	b *Broker
}

var hookEvents = []byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish, mochi.OnDisconnect, mochi.OnQosDropped}

func (h *brokerHook) ID() string { return "vitalchain" }

func (h *brokerHook) Provides(event byte) bool { return slices.Contains(hookEvents, event) }

// OnConnectAuthenticate admits everyone, or, with Authenticate, a device
// that shows over TLS a certificate whose key's ID is its client ID and
// which Authenticate accepts.
func (h *brokerHook) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	if h.b.auth == nil || cl.Net.Inline {
		return true
	}
	if err := h.b.admit(cl); err != nil {
		h.b.refused.Add(1)
		h.b.log.Warn("mqtt: client refused", "client", cl.ID, "remote", cl.Net.Remote, "err", err)
		return false
	}
	return true
}

func (b *Broker) admit(cl *mochi.Client) error {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return fmt.Errorf("%w: not over TLS", ErrNotAuthenticated)
	}
	k, err := peerKey(tc.ConnectionState().PeerCertificates, identity.RoleDevice)
	if err != nil {
		return err
	}
	if k.ID().Hex() != cl.ID {
		return fmt.Errorf("%w: client ID %q is not its key's ID %s", ErrNotAuthenticated, cl.ID, k.ID().Hex())
	}
	if err := b.auth(k.ID()); err != nil {
		return fmt.Errorf("%w: %w", ErrNotAuthenticated, err)
	}
	return nil
}

// OnACLCheck lets everyone do anything, or, with Authenticate, lets a
// device publish only to its own readings topic and subscribe only to its
// own commands topic (no wildcards).
func (h *brokerHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if h.b.auth == nil || cl.Net.Inline {
		return true
	}
	patient, dev, kind, err := ParseTopic(topic)
	ok := err == nil && patient == h.b.patient && dev.Hex() == cl.ID &&
		(write && kind == KindReadings || !write && kind == KindCommands)
	if !ok {
		h.b.denied.Add(1)
	}
	return ok
}

// OnPublish runs in the publishing connection's goroutine before the broker
// acknowledges a QoS 1 message and before it forwards the message to network
// subscribers, so the in-process handlers have returned when the PUBACK goes
// out.
func (h *brokerHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if !cl.Net.Inline {
		h.b.received.Add(1)
	}
	ack := true
	for _, sub := range h.b.subs.Subscribers(pk.TopicName).InlineSubscriptions {
		h.b.ackMu.RLock()
		ah := h.b.acks[sub.Identifier]
		h.b.ackMu.RUnlock()
		if ah == nil {
			sub.Handler(cl, sub.Subscription, pk)
			continue
		}
		h.b.delivered.Add(1)
		h.b.running.Add(1)
		ok := ah(pk.TopicName, pk.Payload)
		h.b.running.Add(-1)
		ack = ack && ok
	}
	if !ack && !cl.Net.Inline && pk.FixedHeader.Qos > 0 {
		h.b.unacked.Add(1)
		if cl.Properties.ProtocolVersion == 5 {
			return pk, packets.ErrQuotaExceeded
		}
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

func (h *brokerHook) OnDisconnect(cl *mochi.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		h.b.oversize.Add(1)
		h.b.log.Warn("mqtt: packet over the size limit refused, connection closed", "client", cl.ID, "remote", cl.Net.Remote)
	}
}

// OnQosDropped counts queued messages dropped as older than SessionExpiry.
// mochi-mqtt v2.7.9 also calls it for messages moved to a new connection of
// the same session, and twice for an expired message: the second time with a
// packet holding only the ID, the one counted here.
func (h *brokerHook) OnQosDropped(_ *mochi.Client, pk packets.Packet) {
	if pk.FixedHeader.Type == 0 {
		h.b.expired.Add(1)
	}
}

// publishSize is the size of an MQTT 5 QoS 1 PUBLISH packet without
// properties: fixed header, topic, packet ID, property length, payload.
func publishSize(topic string, payload int) int {
	rest := 2 + len(topic) + 2 + 1 + payload
	n := 1 + 1 + rest
	for r := rest; r >= 128; r >>= 7 {
		n++
	}
	return n
}

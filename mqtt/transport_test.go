package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

const testWait = 10 * time.Second

type message struct {
	topic   string
	payload string
}

// inbox collects the messages a Handler receives.
type inbox struct{ ch chan message }

func newInbox() *inbox { return &inbox{ch: make(chan message, 8192)} }

func (in *inbox) handle(topic string, payload []byte) {
	in.ch <- message{topic, string(payload)}
}

// next returns the next message, failing the test after testWait.
func (in *inbox) next(t testing.TB) message {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(testWait):
		t.Fatal("no message")
		return message{}
	}
}

func startBroker(t testing.TB, cfg BrokerConfig) *Broker {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	b, err := StartBroker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func connect(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually waits for cond, failing the test after testWait.
func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testWait); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
	}
}

func publish(t testing.TB, c *Client, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := c.Publish(ctx, topic, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

func TestClientToClient(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	patient, other, device := testID(1), testID(2), testID(3)
	in := newInbox()
	sub := connect(t, ClientConfig{Broker: b.URL(), ClientID: "gateway", Subscriptions: []string{ReadingsFilter(patient)}, Handler: in.handle})
	dev := connect(t, ClientConfig{Broker: strings.Replace(b.URL(), "mqtt://", "tcp://", 1), ClientID: "device"})

	publish(t, dev, ReadingsTopic(other, device), "not mine")
	publish(t, dev, CommandsTopic(patient, device), "not a reading")
	publish(t, dev, ReadingsTopic(patient, device), "reading 1")
	want := message{ReadingsTopic(patient, device), "reading 1"}
	if got := in.next(t); got != want {
		t.Fatalf("received %+v, want %+v", got, want)
	}
	if s := dev.Stats(); s.Published != 3 || !s.Connected || s.Connects != 1 {
		t.Errorf("publisher stats %+v", s)
	}
	if s := sub.Stats(); s.Received != 1 {
		t.Errorf("subscriber stats %+v", s)
	}
	if s := b.Stats(); s.Received != 3 || s.Clients != 2 {
		t.Errorf("broker stats %+v", s)
	}
}

func TestClientToBrokerSubscription(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	patient, device := testID(1), testID(3)
	var got atomic.Pointer[message]
	if err := b.Subscribe(ReadingsFilter(patient), func(topic string, payload []byte) {
		got.Store(&message{topic, string(payload)})
	}); err != nil {
		t.Fatal(err)
	}
	dev := connect(t, ClientConfig{Broker: b.URL(), ClientID: "device"})
	publish(t, dev, ReadingsTopic(patient, device), "reading 1")
	// The broker acknowledges only after the handler has returned, so the
	// message is there as soon as Publish returns: no waiting.
	want := message{ReadingsTopic(patient, device), "reading 1"}
	if m := got.Load(); m == nil || *m != want {
		t.Fatalf("handler got %v when Publish returned, want %+v", m, want)
	}
	if s := b.Stats(); s.Delivered != 1 || s.Received != 1 {
		t.Errorf("broker stats %+v", s)
	}
}

func TestBrokerPublishToClient(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	patient, device := testID(1), testID(3)
	in := newInbox()
	connect(t, ClientConfig{Broker: b.URL(), ClientID: "device", Subscriptions: []string{CommandsTopic(patient, device)}, Handler: in.handle})
	var inline atomic.Int32
	if err := b.Subscribe("vitalchain/+/commands/#", func(string, []byte) { inline.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(CommandsTopic(patient, device), []byte("calibrate")); err != nil {
		t.Fatal(err)
	}
	if n := inline.Load(); n != 1 {
		t.Errorf("in-process handler called %d times when Publish returned, want 1", n)
	}
	want := message{CommandsTopic(patient, device), "calibrate"}
	if got := in.next(t); got != want {
		t.Fatalf("received %+v, want %+v", got, want)
	}
	if s := b.Stats(); s.Published != 1 || s.Received != 0 {
		t.Errorf("broker stats %+v", s)
	}
}

// rawConnect opens a raw MQTT 3.1.1 connection, as a minimal device would.
func rawConnect(t *testing.T, addr, clientID string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testWait))
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(clientID))}
	pk := append([]byte{0x10, byte(len(vh) + len(clientID))}, vh...)
	if _, err := conn.Write(append(pk, clientID...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || !bytes.Equal(ack, []byte{0x20, 2, 0, 0}) {
		t.Fatalf("connack % x, %v", ack, err)
	}
	return conn
}

func TestOversizeRefused(t *testing.T) {
	b := startBroker(t, BrokerConfig{MaxPacketSize: 2048})
	var delivered atomic.Int32
	if err := b.Subscribe("raw/#", func(string, []byte) { delivered.Add(1) }); err != nil {
		t.Fatal(err)
	}

	// A raw client sends a 5,000-byte PUBLISH: the broker closes the
	// connection after reading the fixed header.
	conn := rawConnect(t, strings.TrimPrefix(b.URL(), "mqtt://"), "raw")
	body := append([]byte{0, 5, 'r', 'a', 'w', '/', 'x'}, make([]byte, 4993)...)
	_, _ = conn.Write(append([]byte{0x30, 0x88, 0x27}, body...)) // remaining length 5000
	// Closed with unread data, the connection may end in a reset.
	if n, err := io.Copy(io.Discard, bufio.NewReader(conn)); n != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("connection not closed by the broker: read %d bytes, %v", n, err)
	}
	// The broker counts after closing.
	eventually(t, func() bool { return b.Stats().Oversize == 1 })

	// A client refuses to send one, and stays connected.
	dev := connect(t, ClientConfig{Broker: b.URL(), ClientID: "device", MaxPacketSize: 2048})
	ctx := context.Background()
	if err := dev.Publish(ctx, "raw/y", make([]byte, 2048)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("client publish of an oversize message: %v, want ErrTooLarge", err)
	}
	if err := b.Publish("raw/z", make([]byte, 2048)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("broker publish of an oversize message: %v, want ErrTooLarge", err)
	}
	publish(t, dev, "raw/ok", strings.Repeat("x", 1024))
	if n := delivered.Load(); n != 1 {
		t.Errorf("%d messages delivered, want 1 (the one under the limit)", n)
	}
	if s := b.Stats(); s.Oversize != 2 || s.Received != 1 {
		t.Errorf("broker stats %+v, want 2 oversize (raw, broker publish) and 1 received", s)
	}
	if s := dev.Stats(); s.Oversize != 1 || s.Published != 1 || !s.Connected || s.Connects != 1 {
		t.Errorf("client stats %+v", s)
	}
}

func TestPersistentSessionRedelivery(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	patient := testID(1)
	gw := ClientConfig{Broker: b.URL(), ClientID: "gateway", Subscriptions: []string{ReadingsFilter(patient)}, SessionExpiry: time.Minute}
	in := newInbox()
	gw.Handler = in.handle
	first := connect(t, gw)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// Published while the gateway is away: kept in its session.
	dev := connect(t, ClientConfig{Broker: b.URL(), ClientID: "device"})
	const n = 5
	for i := range n {
		publish(t, dev, ReadingsTopic(patient, testID(byte(10+i))), fmt.Sprint("reading ", i))
	}
	if got := len(in.ch); got != 0 {
		t.Fatalf("%d messages delivered to a closed client", got)
	}

	// A new process with the same client ID gets them.
	// mochi-mqtt resends a session's queue in no particular order within a
	// second (see the package documentation), so compare as a set.
	second := connect(t, gw)
	want := map[message]bool{}
	for i := range n {
		want[message{ReadingsTopic(patient, testID(byte(10+i))), fmt.Sprint("reading ", i)}] = true
	}
	for range n {
		if got := in.next(t); !want[got] {
			t.Fatalf("unexpected or repeated message %+v", got)
		} else {
			delete(want, got)
		}
	}
	if s := second.Stats(); s.Received != n {
		t.Errorf("stats %+v", s)
	}
}

// TestOfflineQueueBounded checks the bound on an offline session's queue
// (mochi-mqtt issue #340).
func TestOfflineQueueBounded(t *testing.T) {
	b := startBroker(t, BrokerConfig{MaxInflight: 8})
	in := newInbox()
	gw := ClientConfig{Broker: b.URL(), ClientID: "gateway", Subscriptions: []string{"q/#"}, Handler: in.handle, SessionExpiry: time.Minute}
	if err := connect(t, gw).Close(); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if err := b.Publish(fmt.Sprint("q/", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if s := b.Stats(); s.Dropped != n-8 {
		t.Fatalf("broker stats %+v, want %d dropped", s, n-8)
	}
	connect(t, gw)
	for range 8 {
		in.next(t)
	}
	select {
	case m := <-in.ch:
		t.Fatalf("message over the bound delivered: %+v", m)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestUnacknowledgedRedelivered checks at-least-once delivery to an
// in-process handler: a message whose handler has not returned when the
// connection drops is not acknowledged, and the device sends it again.
func TestUnacknowledgedRedelivered(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	var calls atomic.Int32
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the broker's Close, which waits for handlers
	entered := make(chan struct{})
	if err := b.Subscribe("vitalchain/#", func(_ string, payload []byte) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release // the first delivery hangs, as if the gateway crashed
		}
	}); err != nil {
		t.Fatal(err)
	}
	dev := connect(t, ClientConfig{Broker: b.URL(), ClientID: "device", SessionExpiry: time.Minute})
	done := make(chan error, 1)
	go func() {
		done <- dev.Publish(context.Background(), ReadingsTopic(testID(1), testID(2)), []byte("reading"))
	}()
	select {
	case <-entered:
	case <-time.After(testWait):
		t.Fatal("handler not called")
	}
	dev.cm.TerminateConnectionForTest() // the device loses its connection before the PUBACK
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testWait):
		t.Fatal("publish not acknowledged after reconnection")
	}
	unblock()
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2 (delivered again after the connection loss)", n)
	}
	if s := dev.Stats(); s.Connects != 2 {
		t.Errorf("device stats %+v, want 2 connections", s)
	}
}

func TestConcurrentPublishers(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	patient := testID(1)
	const clients, each = 10, 200
	var mu sync.Mutex
	inline := map[string]int{}
	if err := b.Subscribe(ReadingsFilter(patient), func(_ string, payload []byte) {
		mu.Lock()
		inline[string(payload)]++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	connect(t, ClientConfig{Broker: b.URL(), ClientID: "gateway", Subscriptions: []string{ReadingsFilter(patient)}, Handler: in.handle})

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		dev := connect(t, ClientConfig{Broker: b.URL(), ClientID: fmt.Sprint("device-", i)})
		wg.Go(func() {
			topic := ReadingsTopic(patient, testID(byte(i)))
			for j := range each {
				if err := dev.Publish(context.Background(), topic, fmt.Appendf(nil, "%d/%d", i, j)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mu.Lock()
	if len(inline) != clients*each {
		t.Errorf("in-process handler got %d distinct messages, want %d", len(inline), clients*each)
	}
	mu.Unlock()
	seen := map[string]bool{}
	for range clients * each {
		var m message
		select {
		case m = <-in.ch:
		case <-time.After(testWait):
			t.Fatalf("subscriber got %d of %d messages; broker stats %+v", len(seen), clients*each, b.Stats())
		}
		if seen[m.payload] {
			t.Fatalf("duplicate %q", m.payload)
		}
		seen[m.payload] = true
	}
	if s := b.Stats(); s.Dropped != 0 || s.Received != clients*each {
		t.Errorf("broker stats %+v", s)
	}
}

func TestConnectErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  ClientConfig
		want error
	}{
		{"no broker", ClientConfig{ClientID: "x"}, ErrConfig},
		{"bad scheme", ClientConfig{Broker: "http://127.0.0.1:1883", ClientID: "x"}, ErrConfig},
		{"no host", ClientConfig{Broker: "mqtt://:1883", ClientID: "x"}, ErrConfig},
		{"no client id", ClientConfig{Broker: "mqtt://127.0.0.1:1883"}, ErrConfig},
		{"no handler", ClientConfig{Broker: "mqtt://127.0.0.1:1883", ClientID: "x", Subscriptions: []string{"a/#"}}, ErrConfig},
		{"bad filter", ClientConfig{Broker: "mqtt://127.0.0.1:1883", ClientID: "x", Subscriptions: []string{"a/#/b"}, Handler: func(string, []byte) {}}, ErrBadTopic},
		{"tiny packets", ClientConfig{Broker: "mqtt://127.0.0.1:1883", ClientID: "x", MaxPacketSize: 10}, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Connect(context.Background(), tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("Connect: %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err = Connect(ctx, ClientConfig{Broker: "mqtt://" + addr, ClientID: "x"})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("Connect: %v, want a deadline error naming the refused connection", err)
		}
	})
}

func TestBrokerConfigErrors(t *testing.T) {
	for _, cfg := range []BrokerConfig{
		{},
		{Addr: "127.0.0.1:0", SessionExpiry: time.Millisecond},
		{Addr: "127.0.0.1:0", MaxPacketSize: 100},
	} {
		if _, err := StartBroker(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("StartBroker(%+v): %v, want ErrConfig", cfg, err)
		}
	}
	b := startBroker(t, BrokerConfig{})
	if _, err := StartBroker(BrokerConfig{Addr: strings.TrimPrefix(b.URL(), "mqtt://")}); err == nil {
		t.Error("StartBroker on a busy port succeeded")
	}
	if err := b.Subscribe("a/#/b", func(string, []byte) {}); !errors.Is(err, ErrBadTopic) {
		t.Errorf("Subscribe(bad filter): %v", err)
	}
	if err := b.Subscribe("a/#", nil); !errors.Is(err, ErrConfig) {
		t.Errorf("Subscribe(nil handler): %v", err)
	}
	if err := b.Publish("a/+", nil); !errors.Is(err, ErrBadTopic) {
		t.Errorf("Publish(wildcard): %v", err)
	}
}

func TestClosed(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	c := connect(t, ClientConfig{Broker: b.URL(), ClientID: "x"})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Publish(context.Background(), "a/b", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("a/b", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Broker.Publish after Close: %v", err)
	}
}

func TestLogsWithoutPayloads(t *testing.T) {
	var buf bytes.Buffer
	log := newRedactingLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "a/b", Payload: []byte("glucose 180")}
	log.With("first", pk).Warn("bad packet", "pk", pk, "ptr", &pk, slog.Group("g", "pk", pk), "raw", []byte("glucose 180"))
	out := buf.String()
	if strings.Contains(out, "glucose") {
		t.Fatalf("payload logged: %s", out)
	}
	if !strings.Contains(out, `topic=\"a/b\" payload=11 bytes`) {
		t.Errorf("no packet summary: %s", out)
	}
}

// WaitIdle waits for a handler that is running and for the client that
// published to be gone.
func TestBrokerWaitIdle(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	entered, release := make(chan struct{}), make(chan struct{})
	if err := b.Subscribe("t/#", func(string, []byte) { close(entered); <-release }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatalf("an idle broker: %v", err)
	}
	c, err := Connect(ctx, ClientConfig{Broker: b.URL(), ClientID: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	go c.Publish(ctx, "t/1", []byte("x")) // acknowledged once the handler returns
	<-entered
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if err := b.WaitIdle(short); err == nil {
		t.Fatal("WaitIdle returned while a handler ran and a client was connected")
	}
	close(release)
	c.Close()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// An AckHandler that cannot take a message refuses its acknowledgement:
// the MQTT 5 client's Publish returns ErrBusy, and the message, published
// again, is taken.
func TestBrokerSubscribeAck(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	var mu sync.Mutex
	take := false
	var got []string
	if err := b.SubscribeAck("t/#", func(_ string, p []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		if !take {
			return false
		}
		got = append(got, string(p))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := Connect(ctx, ClientConfig{Broker: b.URL(), ClientID: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, "t/1", []byte("x")); !errors.Is(err, ErrBusy) || !errors.Is(err, ErrRefused) {
		t.Fatalf("a message the receiver could not take: %v, want ErrBusy", err)
	}
	mu.Lock()
	take = true
	mu.Unlock()
	if err := c.Publish(ctx, "t/1", []byte("x")); err != nil {
		t.Fatalf("published again: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "x" {
		t.Fatalf("taken %q, want one x", got)
	}
}

package mqtt

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// redactHandler passes log records on with every MQTT packet replaced by a
// summary without its payload: mochi-mqtt logs whole packets (in warnings
// about bad packets, for one), and a payload is a reading, i.e. health data.
type redactHandler struct{ next slog.Handler }

func newRedactingLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(redactHandler{l.Handler()})
}

func (h redactHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redact(a)
	}
	return redactHandler{h.next.WithAttrs(red)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.next.WithGroup(name)}
}

// redact replaces a packet value by its summary, recursing into groups.
func redact(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, ga := range g {
			red[i] = redact(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch pk := v.Any().(type) {
		case packets.Packet:
			return slog.String(a.Key, summary(&pk))
		case *packets.Packet:
			return slog.String(a.Key, summary(pk))
		case []byte:
			return slog.String(a.Key, fmt.Sprintf("%d bytes", len(pk)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func summary(pk *packets.Packet) string {
	if pk == nil {
		return "<nil>"
	}
	name, ok := packets.PacketNames[pk.FixedHeader.Type]
	if !ok {
		name = "unknown"
	}
	if pk.FixedHeader.Type != packets.Publish {
		return name
	}
	return fmt.Sprintf("%s qos=%d topic=%q payload=%d bytes", name, pk.FixedHeader.Qos, pk.TopicName, len(pk.Payload))
}

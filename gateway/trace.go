package gateway

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vitalchain/vitalchain/internal/spancache"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// Traces (package internal/tracing turns them on): gateway.seal, one per
// abnormal reading, names its records; gateway.upload, one per batch the
// outbox sends, links to the seals of its records and is the parent of
// the HTTP request to the cloud, whose spans continue the trace there.
var tracer = otel.Tracer("github.com/vitalchain/vitalchain/gateway")

// seals remembers the seal span of recent records, by record ID.
var seals = spancache.New[[32]byte](4096)

// tracedSeal is seal within a gateway.seal span.
func (g *Gateway) tracedSeal(ctx context.Context, r reading.Reading, kind vital.Kind, msg []byte, jobs []sealJob) ([][32]byte, error) {
	if len(jobs) == 0 {
		return g.seal(ctx, r, kind, msg, jobs)
	}
	ctx, span := tracer.Start(ctx, "gateway.seal", trace.WithAttributes(
		attribute.String("vitalchain.device", r.Device.Hex()), attribute.Int64("vitalchain.reading.seq", int64(r.Seq)),
		attribute.String("vitalchain.kind", kind.String())))
	defer span.End()
	ids, err := g.seal(ctx, r, kind, msg, jobs)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return ids, err
	}
	span.SetAttributes(attribute.StringSlice("vitalchain.records", hexIDs(ids)))
	return ids, nil
}

// noteSeal remembers the seal span of ctx (if any) for records ids, so
// that the upload that carries them links to it.
func noteSeal(ctx context.Context, ids [][32]byte) {
	sc := trace.SpanContextFromContext(ctx)
	for _, id := range ids {
		seals.Put(id, sc)
	}
}

// startUpload starts a gateway.upload span for a batch of records.
func startUpload(ctx context.Context, recs [][]byte) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, "gateway.upload")
	if !span.IsRecording() {
		return ctx, span
	}
	ids := make([][32]byte, len(recs))
	for i, b := range recs {
		ids[i] = recordID(b)
	}
	for _, l := range seals.Links(ids...) {
		span.AddLink(l)
	}
	span.SetAttributes(attribute.Int("vitalchain.records.count", len(recs)), attribute.StringSlice("vitalchain.records", hexIDs(ids)))
	return ctx, span
}

func hexIDs(ids [][32]byte) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = hex.EncodeToString(id[:])
	}
	return out
}

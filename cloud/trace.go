package cloud

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/internal/spancache"
)

// Traces (package internal/tracing turns them on): cloud.ingest, one per
// upload, child of the HTTP request's span (and so of the gateway's
// upload), ends once its records are committed and names their positions;
// cloud.anchor, one per block anchored on the ledger, links to the ingests
// of the records the block covers.
var tracer = otel.Tracer("github.com/vitalchain/vitalchain/cloud")

// ingests remembers the ingest span of recent positions of the records log,
// put there as each record is queued for storing (Put ignores the invalid
// context of a span that does not record).
var ingests = spancache.New[uint64](1 << 16)

func startIngest(ctx context.Context, n int) (context.Context, trace.Span) {
	return tracer.Start(ctx, "cloud.ingest", trace.WithAttributes(attribute.Int("vitalchain.records.count", n)))
}

// endIngest ends an ingest span with what was stored where.
func endIngest(span trace.Span, acks []cloudapi.Ack) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	var stored, dup, refused int
	var idx []int64
	for _, a := range acks {
		switch {
		case a.Code != "":
			refused++
			continue
		case a.Duplicate:
			dup++
		default:
			stored++
		}
		idx = append(idx, int64(a.Index))
	}
	span.SetAttributes(attribute.Int("vitalchain.records.stored", stored), attribute.Int("vitalchain.records.duplicate", dup),
		attribute.Int("vitalchain.records.refused", refused), attribute.Int64Slice("vitalchain.records.index", idx))
}

// startAnchor starts an anchor span for the block of log lid from size
// from to size to, linked to the ingests of its records.
func startAnchor(ctx context.Context, lid uint8, from, to uint64) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, "cloud.anchor", trace.WithAttributes(attribute.String("vitalchain.log", logName(lid)),
		attribute.Int64("vitalchain.log.from", int64(from)), attribute.Int64("vitalchain.log.to", int64(to))))
	if span.IsRecording() && lid == LogRecords {
		keys := make([]uint64, 0, to-from)
		for i := from; i < to && len(keys) < 1<<16; i++ {
			keys = append(keys, i)
		}
		for _, l := range ingests.Links(keys...) {
			span.AddLink(l)
		}
	}
	return ctx, span
}

func endAnchor(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

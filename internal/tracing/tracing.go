// Package tracing turns OpenTelemetry traces on for a VitalChain process,
// off by default. With OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT set (and OTEL_TRACES_EXPORTER not "none"),
// Setup installs a tracer provider (the OpenTelemetry SDK, sampling and
// batching as its OTEL_TRACES_SAMPLER and OTEL_BSP_* variables say) that
// exports spans over OTLP/HTTP in its JSON encoding (application/json,
// POST …/v1/traces, OTEL_EXPORTER_OTLP_HEADERS sent along), and the W3C
// trace-context propagator, so that a record is followed from the
// gateway that seals it (gateway.seal, gateway.upload) through the cloud's
// HTTP API (otelhttp, both ends) to its ingest and its anchor on the ledger
// (cloud.ingest, cloud.anchor). Without them the OpenTelemetry API stays a
// no-op and nothing is exported.
//
// The exporter is this package's own (otlp.go): the OpenTelemetry
// project's OTLP exporters bring gRPC, grpc-gateway and the generated
// protobuf types, and would move the gRPC that CometBFT links to a newer
// release; OTLP/HTTP with JSON is the same protocol, which collectors
// (the OpenTelemetry Collector, Jaeger, Tempo) accept on the same port.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ErrProtocol: OTEL_EXPORTER_OTLP_PROTOCOL asks for an encoding this
// exporter does not speak (it speaks http/json).
var ErrProtocol = errors.New("tracing: unsupported OTLP protocol")

var enabled atomic.Bool

// Enabled reports whether Setup (or Install) turned tracing on.
func Enabled() bool { return enabled.Load() }

// Setup turns tracing on if the environment asks for it, for the process
// named service (OTEL_SERVICE_NAME wins). It returns how to flush and stop
// (a no-op if tracing stays off).
func Setup(service string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") || os.Getenv("OTEL_SDK_DISABLED") == "true" {
		return none, nil
	}
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		if base := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			endpoint = strings.TrimRight(base, "/") + "/v1/traces"
		}
	}
	if endpoint == "" {
		return none, nil
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if proto != "" && proto != "http/json" {
		return nil, fmt.Errorf("%w: %q: set OTEL_EXPORTER_OTLP_PROTOCOL=http/json (what the collector's OTLP/HTTP receiver also takes)", ErrProtocol, proto)
	}
	headers := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
	if headers == "" {
		headers = os.Getenv("OTEL_EXPORTER_OTLP_HEADERS")
	}
	exp, err := NewExporter(endpoint, parseHeaders(headers), nil)
	if err != nil {
		return nil, err
	}
	if log != nil {
		log.Info("tracing on", "otlp", endpoint)
	}
	return Install(sdktrace.NewBatchSpanProcessor(exp), service), nil
}

// Install turns tracing on with a span processor of the caller's (a test
// passes a synchronous one over an in-memory exporter), and returns how
// to flush and stop.
func Install(sp sdktrace.SpanProcessor, service string) func(context.Context) error {
	if s := os.Getenv("OTEL_SERVICE_NAME"); s != "" {
		service = s
	}
	res := resource.NewSchemaless(attribute.String("service.name", service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	enabled.Store(true)
	return tp.Shutdown
}

// Transport wraps an HTTP client's transport so that its requests carry
// the trace context and make client spans, when tracing is on.
func Transport(rt http.RoundTripper) http.RoundTripper {
	if !Enabled() {
		return rt
	}
	return otelhttp.NewTransport(rt)
}

// Handler wraps a server's handler so that each request makes a server
// span, child of the caller's trace context, when tracing is on.
func Handler(h http.Handler, operation string) http.Handler {
	if !Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, operation, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method + " " + r.URL.Path
	}))
}

// parseHeaders parses OTEL_EXPORTER_OTLP_HEADERS: key=value pairs,
// comma-separated, values URL-encoded.
func parseHeaders(s string) http.Header {
	h := http.Header{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			continue
		}
		if u, err := unescape(v); err == nil {
			v = u
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h
}

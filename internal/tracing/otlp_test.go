package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestExporterPostsOTLPJSON(t *testing.T) {
	var got Request
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || json.Unmarshal(b, &got) != nil {
			http.Error(w, "bad request", 400)
		}
	}))
	defer srv.Close()
	exp, err := NewExporter(srv.URL+"/v1/traces", parseHeaders("authorization=Bearer%20x, x-tenant = a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	linked := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{3}, SpanID: trace.SpanID{4}})
	stub := tracetest.SpanStub{
		Name:        "cloud.ingest",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{5}}),
		Parent:      parent, SpanKind: trace.SpanKindServer,
		StartTime: time.Unix(1, 0), EndTime: time.Unix(2, 0),
		Attributes: []attribute.KeyValue{attribute.Int("n", 3), attribute.StringSlice("ids", []string{"a", "b"})},
		Links:      []sdktrace.Link{{SpanContext: linked}},
		Status:     sdktrace.Status{Code: codes.Error, Description: "store down"},
	}
	if err := exp.ExportSpans(context.Background(), tracetest.SpanStubs{stub}.Snapshots()); err != nil {
		t.Fatal(err)
	}
	if header.Get("Content-Type") != "application/json" || header.Get("Authorization") != "Bearer x" || header.Get("X-Tenant") != "a" {
		t.Fatalf("headers %v", header)
	}
	if len(got.ResourceSpans) != 1 || len(got.ResourceSpans[0].ScopeSpans) != 1 || len(got.ResourceSpans[0].ScopeSpans[0].Spans) != 1 {
		t.Fatalf("request %+v", got)
	}
	s := got.ResourceSpans[0].ScopeSpans[0].Spans[0]
	want := Span{TraceID: "01000000000000000000000000000000", SpanID: "0500000000000000", ParentSpanID: "0200000000000000",
		Name: "cloud.ingest", Kind: 2, Start: "1000000000", End: "2000000000",
		Links: []Link{{TraceID: "03000000000000000000000000000000", SpanID: "0400000000000000"}}, Status: Status{Code: 2, Message: "store down"}}
	if s.TraceID != want.TraceID || s.SpanID != want.SpanID || s.ParentSpanID != want.ParentSpanID || s.Name != want.Name ||
		s.Kind != want.Kind || s.Start != want.Start || s.End != want.End || len(s.Links) != 1 || s.Links[0] != want.Links[0] || s.Status != want.Status {
		t.Fatalf("span\n%+v\nwant\n%+v", s, want)
	}
	if len(s.Attributes) != 2 || *s.Attributes[0].Value.Int != "3" || *s.Attributes[1].Value.Array.Values[1].String != "b" {
		t.Fatalf("attributes %+v", s.Attributes)
	}
}

func TestSetup(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		err  error
	}{
		{"off by default", nil, nil},
		{"off when asked", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, nil},
		{"protobuf refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ErrProtocol},
		{"a bad endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "127.0.0.1:4318"}, errBadEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
				t.Setenv(k, tc.env[k])
			}
			was := Enabled()
			end, err := Setup("test", nil)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil {
				if Enabled() != was {
					t.Fatal("tracing turned on")
				}
				end(context.Background())
			}
		})
	}
}

package tracing

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

var errBadEndpoint = errors.New("tracing: bad OTLP endpoint")

func unescape(s string) (string, error) { return url.QueryUnescape(s) }

// Exporter sends spans to an OTLP/HTTP endpoint in OTLP's JSON encoding.
type Exporter struct {
	endpoint string
	headers  http.Header
	client   *http.Client
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// NewExporter returns an exporter to endpoint (the full URL, …/v1/traces)
// with extra headers; client nil: a client with a 10 s timeout.
func NewExporter(endpoint string, headers http.Header, client *http.Client) (*Exporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w %q: want http(s)://host:port/v1/traces", errBadEndpoint, endpoint)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Exporter{endpoint: endpoint, headers: headers, client: client}, nil
}

// ExportSpans posts spans as one ExportTraceServiceRequest.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(Encode(spans))
	if err != nil {
		return fmt.Errorf("tracing: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	for k, vs := range e.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("tracing: export: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("tracing: export: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Shutdown does nothing: the exporter holds no resources.
func (e *Exporter) Shutdown(context.Context) error { return nil }

// The OTLP JSON encoding (opentelemetry-proto, trace/v1): IDs in hex,
// 64-bit integers as decimal strings, enums as numbers.
type (
	Request struct {
		ResourceSpans []ResourceSpans `json:"resourceSpans"`
	}
	ResourceSpans struct {
		Resource   Resource     `json:"resource"`
		ScopeSpans []ScopeSpans `json:"scopeSpans"`
	}
	Resource struct {
		Attributes []KeyValue `json:"attributes,omitempty"`
		enc        string     // its attributes encoded, to group spans by
	}
	ScopeSpans struct {
		Scope Scope  `json:"scope"`
		Spans []Span `json:"spans"`
	}
	Scope struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}
	Span struct {
		TraceID      string     `json:"traceId"`
		SpanID       string     `json:"spanId"`
		ParentSpanID string     `json:"parentSpanId,omitempty"`
		Name         string     `json:"name"`
		Kind         int        `json:"kind"`
		Start        string     `json:"startTimeUnixNano"`
		End          string     `json:"endTimeUnixNano"`
		Attributes   []KeyValue `json:"attributes,omitempty"`
		Links        []Link     `json:"links,omitempty"`
		Status       Status     `json:"status"`
	}
	Link struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	}
	Status struct {
		Code    int    `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}
	KeyValue struct {
		Key   string `json:"key"`
		Value Value  `json:"value"`
	}
	Value struct {
		String *string  `json:"stringValue,omitempty"`
		Bool   *bool    `json:"boolValue,omitempty"`
		Int    *string  `json:"intValue,omitempty"`
		Double *float64 `json:"doubleValue,omitempty"`
		Array  *Array   `json:"arrayValue,omitempty"`
	}
	Array struct {
		Values []Value `json:"values"`
	}
)

// Encode groups spans by resource and scope into an OTLP request.
func Encode(spans []sdktrace.ReadOnlySpan) Request {
	var req Request
	type key struct{ res, scope string }
	index := map[key][2]int{}
	for _, s := range spans {
		res := s.Resource().Encoded(attribute.DefaultEncoder())
		k := key{res, s.InstrumentationScope().Name + "\x00" + s.InstrumentationScope().Version}
		at, ok := index[k]
		if !ok {
			ri := -1
			for i, r := range req.ResourceSpans {
				if r.Resource.key() == res {
					ri = i
				}
			}
			if ri < 0 {
				req.ResourceSpans = append(req.ResourceSpans, ResourceSpans{Resource: Resource{Attributes: keyValues(s.Resource().Attributes()), enc: res}})
				ri = len(req.ResourceSpans) - 1
			}
			rs := &req.ResourceSpans[ri]
			rs.ScopeSpans = append(rs.ScopeSpans, ScopeSpans{Scope: Scope{Name: s.InstrumentationScope().Name, Version: s.InstrumentationScope().Version}})
			at = [2]int{ri, len(rs.ScopeSpans) - 1}
			index[k] = at
		}
		ss := &req.ResourceSpans[at[0]].ScopeSpans[at[1]]
		ss.Spans = append(ss.Spans, encodeSpan(s))
	}
	return req
}

func encodeSpan(s sdktrace.ReadOnlySpan) Span {
	sc := s.SpanContext()
	sp := Span{
		TraceID:    sc.TraceID().String(),
		SpanID:     hex.EncodeToString(sid(sc.SpanID())),
		Name:       s.Name(),
		Kind:       int(s.SpanKind()), // the same numbering as OTLP's SpanKind
		Start:      strconv.FormatInt(s.StartTime().UnixNano(), 10),
		End:        strconv.FormatInt(s.EndTime().UnixNano(), 10),
		Attributes: keyValues(s.Attributes()),
	}
	if p := s.Parent(); p.HasSpanID() {
		sp.ParentSpanID = hex.EncodeToString(sid(p.SpanID()))
	}
	for _, l := range s.Links() {
		sp.Links = append(sp.Links, Link{TraceID: l.SpanContext.TraceID().String(), SpanID: hex.EncodeToString(sid(l.SpanContext.SpanID()))})
	}
	switch st := s.Status(); st.Code {
	case codes.Ok:
		sp.Status = Status{Code: 1}
	case codes.Error:
		sp.Status = Status{Code: 2, Message: st.Description}
	}
	return sp
}

func (r Resource) key() string { return r.enc }

func sid(id [8]byte) []byte { return id[:] }

func keyValues(kvs []attribute.KeyValue) []KeyValue {
	out := make([]KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, KeyValue{Key: string(kv.Key), Value: value(kv.Value)})
	}
	return out
}

func value(v attribute.Value) Value {
	switch v.Type() {
	case attribute.BOOL:
		b := v.AsBool()
		return Value{Bool: &b}
	case attribute.INT64:
		s := strconv.FormatInt(v.AsInt64(), 10)
		return Value{Int: &s}
	case attribute.FLOAT64:
		f := v.AsFloat64()
		return Value{Double: &f}
	case attribute.STRINGSLICE:
		a := &Array{}
		for _, s := range v.AsStringSlice() {
			a.Values = append(a.Values, Value{String: &s})
		}
		return Value{Array: a}
	case attribute.INT64SLICE:
		a := &Array{}
		for _, n := range v.AsInt64Slice() {
			s := strconv.FormatInt(n, 10)
			a.Values = append(a.Values, Value{Int: &s})
		}
		return Value{Array: a}
	default:
		s := v.Emit()
		return Value{String: &s}
	}
}

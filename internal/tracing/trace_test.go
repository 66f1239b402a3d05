package tracing_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/internal/tracing"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// TestOneRecordTraced follows one abnormal reading with tracing on (an
// in-memory exporter): the gateway's seal names its record; the upload
// that carries it links to the seal; the cloud's ingest continues the
// upload's trace through the HTTP request (otelhttp at both ends); the
// anchor of its block links to the ingest.
func TestOneRecordTraced(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ledger node and a cloud")
	}
	exp := tracetest.NewInMemoryExporter()
	shutdown := tracing.Install(sdktrace.NewSimpleSpanProcessor(exp), "test")
	defer shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tc, err := testbed.StartChain(ctx, testbed.ChainOptions{Nodes: 1, Dir: filepath.Join(dir, "chain")})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Stop()
	must := func(id *identity.Identity, err error) *identity.Identity {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	cloudID := must(tc.Register(ctx, identity.RoleCloud, identity.SuiteX25519, 1))
	patient := must(tc.Register(ctx, identity.RolePatient, identity.SuiteX25519, 1))
	prov := must(tc.Register(ctx, identity.RoleProvider, identity.SuiteX25519, 1))
	dev := must(identity.Generate(identity.RoleDevice, identity.SuiteX25519))
	if err := tc.Admit(ctx, dev, 1, patient, nil); err != nil {
		t.Fatal(err)
	}
	terms := contract.Terms{Version: contract.Version, Patient: patient.ID(), Providers: []identity.ID{prov.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: contract.Warning}}, Name: "glucose"}
	dc, err := ledger.NewDeployContract(patient, terms, prov)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Submit(ctx, patient.Signing, dc); err != nil {
		t.Fatal(err)
	}
	cl, err := testbed.StartCloud(ctx, testbed.CloudOptions{Key: cloudID, Dir: filepath.Join(dir, "cloud"), Clients: tc.Clients(0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The cloud's API as 'vitalchain cloud' serves it with tracing on, and
	// the gateway's client as the commands make it.
	srv := httptest.NewServer(tracing.Handler(cl.Service.Handler(nil), "cloud"))
	defer srv.Close()
	cc := cloudapi.NewClient(srv.URL, &http.Client{Transport: tracing.Transport(http.DefaultTransport)}).Expect(cloudID.ID())
	g, err := gateway.New(ctx, gateway.Config{Patient: patient, Chain: tc.Client(0), Cloud: cc, Dir: filepath.Join(dir, "gw"),
		Uploader: outbox.UploaderOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	msg, err := reading.Sign(reading.New(patient.ID(), dev.ID(), 1, time.Now(), vital.Glucose, vital.Quantity(250_000)), dev.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.HandleReading(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ra, _, _ := cl.Service.Checkpoints(); ra.Size >= 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the record was never anchored")
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}

	spans := exp.GetSpans()
	find := func(name string, ok func(tracetest.SpanStub) bool) tracetest.SpanStub {
		t.Helper()
		for _, s := range spans {
			if s.Name == name && ok(s) {
				return s
			}
		}
		var names []string
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Fatalf("no %s span as expected among %v", name, names)
		return tracetest.SpanStub{}
	}
	attr := func(s tracetest.SpanStub, key string) []string {
		for _, kv := range s.Attributes {
			if string(kv.Key) == key {
				return kv.Value.AsStringSlice()
			}
		}
		return nil
	}
	linked := func(s tracetest.SpanStub, to trace.SpanContext) bool {
		return slices.ContainsFunc(s.Links, func(l sdktrace.Link) bool { return l.SpanContext.SpanID() == to.SpanID() })
	}
	seal := find("gateway.seal", func(s tracetest.SpanStub) bool { return len(attr(s, "vitalchain.records")) == 1 })
	rec := attr(seal, "vitalchain.records")[0]
	if _, err := hex.DecodeString(rec); err != nil || len(rec) != 64 {
		t.Fatalf("the seal names record %q", rec)
	}
	upload := find("gateway.upload", func(s tracetest.SpanStub) bool {
		return slices.Contains(attr(s, "vitalchain.records"), rec) && linked(s, seal.SpanContext)
	})
	ingest := find("cloud.ingest", func(s tracetest.SpanStub) bool {
		return s.SpanContext.TraceID() == upload.SpanContext.TraceID()
	})
	find("cloud.anchor", func(s tracetest.SpanStub) bool { return linked(s, ingest.SpanContext) })
	// Between the upload and the ingest, the HTTP request's two spans.
	client := find("HTTP POST", func(s tracetest.SpanStub) bool { return s.Parent.SpanID() == upload.SpanContext.SpanID() })
	server := find("POST /v1/records", func(s tracetest.SpanStub) bool { return s.Parent.SpanID() == client.SpanContext.SpanID() })
	if ingest.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Fatalf("the ingest's parent is %s, not the HTTP server span %s", ingest.Parent.SpanID(), server.SpanContext.SpanID())
	}
}

package cloud

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// serve runs e's service behind a Server with limits l on a loopback port.
func serve(t testing.TB, e *testEnv, l Limits) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.svc.NewServer(l, nil)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return srv, "http://" + ln.Addr().String()
}

// healthz asks /healthz on a fresh connection and returns how long the
// answer took; it fails the test if none comes within 5 s.
func healthz(t testing.TB, base string) time.Duration {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
	return time.Since(start)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// 1,000 idle connections and a 100 MiB body, sent slowly, leave the cloud
// answering /healthz; the body is refused once past the upload bound, and
// idle connections over the cap are closed at once.
func TestServerUnderBoundedAbuse(t *testing.T) {
	e := newEnv(t)
	l := DefaultLimits()
	l.MaxConns = 1100
	srv, base := serve(t, e, l)
	addr := strings.TrimPrefix(base, "http://")
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitFor(t, "1,000 connections open", func() bool { return srv.Conns() >= 1000 })
	t.Logf("healthz with 1,000 idle connections: %v", healthz(t, base))

	// A 100 MiB upload of unknown length: refused once past MaxUploadBytes.
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 1<<20)
		for range 100 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/records", pr)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("a 100 MiB body: %s", resp.Status)
		}
	} else if !errors.Is(err, io.ErrClosedPipe) && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("a 100 MiB body: %v", err)
	}
	pr.Close()
	// Announced as 100 MiB: refused before a byte is read.
	req, _ = http.NewRequest(http.MethodPost, base+"/v1/records", io.LimitReader(zeros{}, 100<<20))
	req.ContentLength = 100 << 20
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("a body announced as 100 MiB: %s", resp.Status)
		}
	}
	t.Logf("healthz after a 100 MiB body: %v", healthz(t, base))

	// Over the cap, connections are closed at once.
	for range 150 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitFor(t, "connections over the cap refused", func() bool { return e.metric("vitalchain_cloud_connections_refused_total") > 0 })
	if n := srv.Conns(); n > int64(l.MaxConns) {
		t.Fatalf("%d connections open, cap %d", n, l.MaxConns)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A client address over its rate is answered 429, and a signer over its
// rate too; requests over the in-flight bound are answered 503.
func TestServerRateLimitsAndBusy(t *testing.T) {
	e := newEnv(t)
	l := DefaultLimits()
	l.AddressRate, l.AddressBurst = 1, 5
	_, base := serve(t, e, l)
	codes := map[int]int{}
	for range 20 {
		resp, err := http.Get(base + "/v1/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusOK] < 5 || codes[http.StatusTooManyRequests] == 0 || codes[http.StatusOK]+codes[http.StatusTooManyRequests] != 20 {
		t.Fatalf("answers %v: want 5 or so OK, then 429", codes)
	}
	healthz(t, base) // exempt

	e2 := newEnv(t)
	l = DefaultLimits()
	l.SignerRate, l.SignerBurst = 1, 3
	_, base = serve(t, e2, l)
	raw, id := e2.record(vital.Glucose)
	e2.ingest(raw)
	cc := cloudapi.NewClient(base, nil)
	// Past the burst, reads are refused 429 with a Retry-After, and the
	// client waits and sends them again: every read succeeds, more slowly.
	for i := range 10 {
		if _, err := cc.Read(context.Background(), e2.patient.Signing, id); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if n := e2.metric("vitalchain_cloud_reads_refused_total", "reason", cloudapi.CodeRateLimited); n < 3 {
		t.Fatalf("%v reads refused for their rate, want those past a burst of 3", n)
	}
	// Refused for longer than the caller waits, a read fails saying why:
	// of five reads that each wait 300 ms at most, at a rate of one a
	// second, some are refused.
	var limited int
	var err error
	for range 5 {
		short, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err = cc.Read(short, e2.patient.Signing, id)
		stop()
		var re *cloudapi.RequestError
		switch {
		case err == nil:
		case errors.As(err, &re) && re.Code == cloudapi.CodeRateLimited && re.Status == http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("a read over the rate: %v, want rate_limited", err)
		}
	}
	if limited == 0 {
		t.Fatal("five quick reads over a rate of one a second: none refused")
	}

	// In flight: long polls fill their slots; one more is busy.
	e3 := newEnv(t)
	p := e3.member(identity.RoleProvider, 1)
	l = DefaultLimits()
	l.MaxLongPolls = 2
	_, base = serve(t, e3, l)
	cc = cloudapi.NewClient(base, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); cc.Alerts(ctx, p.Signing, 0, 20*time.Second) }()
	}
	waitFor(t, "two long polls waiting", func() bool { return e3.svc.AlertWaits() >= 2 })
	short, stop := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = cc.Alerts(short, p.Signing, 0, 0)
	stop()
	var re *cloudapi.RequestError
	if !errors.As(err, &re) || re.Code != cloudapi.CodeBusy || re.Status != http.StatusServiceUnavailable {
		t.Fatalf("a third long poll: %v, want busy", err)
	}
	cancel()
	wg.Wait()
	healthz(t, base)
}

// BenchmarkHealthzUnderIdleConnections measures /healthz while 1,000 idle
// connections are open (the goal: within 100 ms).
func BenchmarkHealthzUnderIdleConnections(b *testing.B) {
	e := newEnv(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := e.svc.NewServer(DefaultLimits(), nil)
	go srv.Serve(ln)
	defer srv.Close()
	var idle []net.Conn
	for range 1000 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var worst time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp, err := c.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// BenchmarkHealthzUnderAbuse times /healthz (a new connection each time)
// while 1,000 idle connections are open and a 100 MiB body is being sent
// slowly: the goal is within 100 ms. The p99 is reported.
func BenchmarkHealthzUnderAbuse(b *testing.B) {
	e := newEnv(b)
	l := DefaultLimits()
	l.MaxConns = 1100
	srv, base := serve(b, e, l)
	addr := strings.TrimPrefix(base, "http://")
	for range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
	}
	for srv.Conns() < 1000 {
		time.Sleep(time.Millisecond)
	}
	// The slow 100 MiB body, a MiB every 10 ms, for the whole benchmark.
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		chunk := make([]byte, 1<<20)
		for range 100 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/records", pr)
		req.ContentLength = -1
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	var ds []time.Duration
	b.ResetTimer()
	for range b.N {
		ds = append(ds, healthz(b, base))
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
}

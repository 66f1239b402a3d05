package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
	"github.com/vitalchain/vitalchain/webhook"
)

// TestPortalsAsCommands runs the portals as a user does: `vitalchain
// provider serve` and `vitalchain-gateway --ui`, beside a node and a
// cloud, each a process of the built binaries. Each prints a login link
// that opens a session, answers /livez and /readyz, refuses a second use of
// the link, and stops cleanly on SIGTERM.
func TestPortalsAsCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node, a cloud, a gateway and a portal process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tn, err := chain.WriteTestnet(chain.TestnetOptions{Nodes: 1, Dir: filepath.Join(dir, "chain"), BlockInterval: 100 * time.Millisecond, NoEmptyBlocks: true})
	if err != nil {
		t.Fatal(err)
	}
	nodeProbe := freeAddr(t)
	node := &proc{name: "node", log: filepath.Join(dir, "node.log"), args: []string{"vitalchain", "node", "--home", tn.Homes[0], "--health", nodeProbe}}
	node.start(t)
	node.waitReady(t, ctx, "http://"+nodeProbe+"/readyz")
	rpc := rpcURL(tn.RPC[0], false)
	c, err := client.Dial(rpc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	head, err := c.Signer(ctx, tn.Authorities[0].Signing)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := func(role identity.Role) (*identity.Identity, string) {
		id, err := identity.Generate(role, identity.SuiteX25519)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ledger.NewRegister(id, 1, identity.ID{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := head.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, role.String()+".key")
		if err := identity.WriteFile(f, id); err != nil {
			t.Fatal(err)
		}
		return id, f
	}
	_, cloudKey := keyFile(identity.RoleCloud)
	patientID, patientKey := keyFile(identity.RolePatient)
	providerID, providerKey := keyFile(identity.RoleProvider)
	cloudAddr := freeAddr(t)
	cld := &proc{name: "cloud", log: filepath.Join(dir, "cloud.log"), args: []string{"vitalchain", "cloud", "--key", cloudKey,
		"--store", filepath.Join(dir, "store"), "--ledger", rpc, "--listen", cloudAddr, "--block-interval", "300ms"}}
	cld.start(t)
	cld.waitReady(t, ctx, "http://"+cloudAddr+"/readyz")

	gwProbe, ui := freeAddr(t), freeAddr(t)
	gw := &proc{name: "gateway", log: filepath.Join(dir, "gateway.log"), args: []string{"vitalchain-gateway", "--key", patientKey,
		"--data", filepath.Join(dir, "gw"), "--ledger", rpc, "--cloud", "http://" + cloudAddr, "--listen", freeAddr(t),
		"--metrics", gwProbe, "--ui", ui}}
	gw.start(t)
	gw.waitReady(t, ctx, "http://"+ui+"/readyz")
	pp := &proc{name: "provider portal", log: filepath.Join(dir, "provider.log"), args: []string{"vitalchain", "provider", "serve",
		"--key", providerKey, "--ledger", rpc, "--cloud", "http://" + cloudAddr, "--listen", freeAddr(t)}}
	pp.start(t)

	for _, tc := range []struct {
		p     *proc
		line  string // the login link's line
		title string // what the first page says
	}{
		{gw, "Patient portal: ", "<h1>Today</h1>"},
		{pp, "Provider portal: ", "<h1>Triage</h1>"},
	} {
		var link string
		waitFor(t, ctx, tc.p.name+"'s login link", func() bool {
			b, _ := os.ReadFile(tc.p.log)
			m := regexp.MustCompile(regexp.QuoteMeta(tc.line) + `(http://\S+/login\?token=\S+)`).FindSubmatch(b)
			if m != nil {
				link = string(m[1])
			}
			return m != nil
		})
		base := link[:strings.Index(link, "/login")]
		tc.p.waitReady(t, ctx, base+"/readyz")
		if code, _ := get(t, base+"/livez"); code != http.StatusOK {
			t.Errorf("%s /livez: %d", tc.p.name, code)
		}
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
			if i == 1 {
				browser = &http.Client{} // another browser, with the same link
			}
			res, err := browser.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != want || (want == http.StatusOK && !strings.Contains(string(body), tc.title)) {
				t.Errorf("%s: login %d answered %d, want %d:\n%s", tc.p.name, i+1, res.StatusCode, want, body)
			}
		}
		tc.p.term(t, ctx)
	}
	alert := alertLifecycleByCommands(t, ctx, c, patientID, providerID, "http://"+cloudAddr, rpc, providerKey)
	webhooksAcrossAKill(t, ctx, dir, rpc, "http://"+cloudAddr, providerKey, alert)
	cld.term(t, ctx)
	node.term(t, ctx)
}

// alertLifecycleByCommands drives an alert's lifecycle with `vitalchain
// provider alerts`: the patient's contract allows 2 s without data and
// the gateway is down, so its heartbeat stops and the cloud raises a
// no-data alert; the provider lists it, acknowledges it (once: a second
// time is refused), snoozes it, resolves it; an unknown alert and a bad
// snooze are refused.
func alertLifecycleByCommands(t *testing.T, ctx context.Context, c *client.Client, patient, prov *identity.Identity, cloudURL, rpc, providerKey string) (alert string) {
	t.Helper()
	terms := contract.Terms{Version: contract.Version, Patient: patient.ID(), Providers: []identity.ID{prov.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: contract.Warning}}, NoData: 2, Name: "no data"}
	dc, err := ledger.NewDeployContract(patient, terms, prov)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.Signer(ctx, patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Submit(ctx, dc); err != nil {
		t.Fatal(err)
	}
	pt, err := gateway.OpenPatient(ctx, patient, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pt.Grant(ctx, prov.ID(), vital.Kinds(), false, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The gateway's last heartbeat, then silence.
	if _, err := cloudapi.NewClient(cloudURL, nil).Heartbeat(ctx, patient.Signing, dc.ID(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--key", providerKey, "--cloud", cloudURL, "--ledger", rpc}
	cmd := func(args ...string) (string, string, int) {
		var out, errb strings.Builder
		all := append(append([]string{"provider", "alerts", args[0]}, flags...), args[1:]...)
		code := run(all, &out, &errb)
		return out.String(), errb.String(), code
	}
	waitFor(t, ctx, "the no-data alert of the silent gateway", func() bool {
		out, _, code := cmd("states")
		m := regexp.MustCompile(`alert ([0-9a-f]{64}) .* raised .*no data from the gateway since`).FindStringSubmatch(out)
		if code == 0 && m != nil {
			alert = m[1]
		}
		return alert != ""
	})
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout, or in stderr for a failure
	}{
		{[]string{"ack", alert}, 0, "acknowledged by " + prov.ID().String()},
		{[]string{"ack", alert}, 1, "illegal_transition"},
		{[]string{"snooze", "--for", "10m", alert}, 0, "snoozed until"},
		{[]string{"snooze", "--for", "25h", alert}, 2, "--for"},
		{[]string{"resolve", alert}, 0, "resolved by " + prov.ID().String()},
		{[]string{"ack", strings.Repeat("ab", 32)}, 1, "unknown_alert"},
	} {
		out, errs, code := cmd(tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("provider alerts %s: exit %d, want %d and %q:\n%s%s", strings.Join(tc.args, " "), code, tc.code, tc.want, out, errs)
		}
	}
	if out, _, _ := cmd("states", "--open"); strings.Contains(out, alert) {
		t.Errorf("the resolved alert is listed open:\n%s", out)
	}
	return alert
}

// webhooksAcrossAKill runs `vitalchain provider serve --webhook` against
// a pager that refuses every delivery, kills the portal with SIGKILL once
// the alert's event has been refused, and starts it again with the pager
// up: the event is delivered, signed, once, under the ID it was first
// tried with, although the restarted portal replays the alert.
func webhooksAcrossAKill(t *testing.T, ctx context.Context, dir, rpc, cloudURL, providerKey, alert string) {
	t.Helper()
	secret := webhook.NewSecret()
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	up := false
	refused := map[string]int{}   // webhook-id → attempts refused
	delivered := map[string]int{} // webhook-id → deliveries taken
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := secret.Verify(r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("a delivery whose signature does not verify: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if strings.Contains(string(body), "glucose") || strings.Contains(string(body), "value") {
			t.Errorf("a delivery carries more than IDs and links: %s", body)
		}
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		if !up {
			refused[id]++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		delivered[id]++
	}))
	defer pager.Close()
	count := func(m map[string]int, id string) int { mu.Lock(); defer mu.Unlock(); return m[id] }
	event := "alert.no_data:" + alert
	listen := freeAddr(t)
	pp := &proc{name: "provider portal with webhooks", log: filepath.Join(dir, "webhooks.log"), args: []string{"vitalchain", "provider", "serve",
		"--key", providerKey, "--ledger", rpc, "--cloud", cloudURL, "--listen", listen,
		"--webhook", pager.URL, "--webhook-secret", secretFile, "--data", filepath.Join(dir, "portal")}}
	pp.start(t)
	waitFor(t, ctx, "the alert's event refused by the pager", func() bool { return count(refused, event) > 0 })
	if err := pp.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-pp.exited
	mu.Lock()
	up = true
	mu.Unlock()
	pp.start(t)
	waitFor(t, ctx, "the alert's event delivered after the restart", func() bool { return count(delivered, event) > 0 })
	// The restarted portal replays the alert: its event is refused as one
	// enqueued before, and sent no more.
	waitFor(t, ctx, "the replayed event refused as a duplicate", func() bool {
		_, body := get(t, "http://"+listen+"/metrics")
		return strings.Contains(body, "vitalchain_portal_webhook_duplicates_total 1\n")
	})
	pp.term(t, ctx)
	mu.Lock()
	defer mu.Unlock()
	for id, n := range delivered {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	if len(delivered) != 1 {
		t.Errorf("events delivered: %v, want only %s", delivered, event)
	}
	t.Logf("refused before the kill: %v; delivered after the restart: %v", refused, delivered)
}

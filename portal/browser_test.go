package portal_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/browsertest"
	"github.com/vitalchain/vitalchain/internal/gatewaycmd"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/portal"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/webhook"
)

// screens is where the browser tests save a screenshot of each screen:
// $VITALCHAIN_SCREENSHOTS, or a temporary folder.
func screens(t *testing.T) string {
	if d := os.Getenv("VITALCHAIN_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func shot(dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		b, err := chromedp.FullScreenshot(100)(ctx, t) // quality 100: PNG
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
	})
}

// TestPortalsInBrowser drives both portals in Chromium against a real
// system (chain, cloud, gateway, wearables): the provider logs in, sees an
// alert arrive live on the triage list, opens it and sees its proof
// verified and anchored, acknowledges it, opens the patient's charts; the
// patient logs in to the gateway's portal, sees today's readings and the
// contract, revokes the provider, and the provider's portal loses the
// patient; the patient grants again from the form and the patient comes
// back; the patient's access log shows the provider's reads. Any
// JavaScript error fails the test.
func TestPortalsInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	s, err := testbed.Start(ctx, testbed.Options{Dir: t.TempDir(), Patients: 1, Providers: 2, Devices: 6, Interval: 100 * time.Millisecond,
		AbnormalFraction: 0.1, Speedup: 240, BlockInterval: 100 * time.Millisecond, CloudSeal: 500 * time.Millisecond,
		Suite: identity.SuiteX25519, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	// A paging system behind the portal's webhooks.
	var pagerMu sync.Mutex
	paged := map[string]int{} // webhook-id → deliveries
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pagerMu.Lock()
		paged[r.Header.Get("webhook-id")]++
		pagerMu.Unlock()
	}))
	defer pager.Close()
	pages := func(id string) int { pagerMu.Lock(); defer pagerMu.Unlock(); return paged[id] }
	hooks, err := webhook.Open(webhook.Config{Path: filepath.Join(t.TempDir(), "webhooks.db"),
		Endpoints: []webhook.Endpoint{{URL: pager.URL, Secret: webhook.NewSecret()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer hooks.Close()
	go hooks.Run(ctx)
	pp, err := portal.NewProvider(portal.ProviderConfig{Provider: s.Providers[0].P, Lifecycle: s.Providers[0].P, Notify: hooks})
	if err != nil {
		t.Fatal(err)
	}
	go pp.Run(ctx)
	srv := httptest.NewServer(pp.Handler())
	defer srv.Close()
	dir := screens(t)
	bctx, jsErrors, closeBrowser := browsertest.Start(t)
	defer closeBrowser() // before the server closes: its live streams end with the tabs
	bctx, cancelB := context.WithTimeout(bctx, 5*time.Minute)
	defer cancelB()
	patient := s.Patients[0]
	row := fmt.Sprintf(`tr[data-patient="%s"]`, patient.ID.ID().Hex())

	// Log in before any reading: the alert must arrive on the open page.
	must(t, "log in", chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+pp.LoginPath()),
		chromedp.WaitVisible(chromedp.CSS(`#triage-rows`)),
		shot(dir, "provider-triage-empty")))
	if err := s.StartWearables(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, "an alert arrives live", chromedp.Do(bctx,
		chromedp.WaitVisible(chromedp.CSS(row+` a.alert-link`)),
		shot(dir, "provider-triage")))
	// On a phone-sized screen the list fits without scrolling sideways.
	must(t, "a phone-sized screen", chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(row)),
		shot(dir, "provider-triage-phone")))
	overflow, err := chromedp.Run(bctx, chromedp.Evaluate[int](`Math.ceil(Math.max(...[...document.querySelectorAll('main *')].map(e => e.getBoundingClientRect().right))) - 390`))
	must(t, "measure the phone-sized page", err)
	if overflow > 0 {
		t.Errorf("on a 390 px wide screen the triage list is %d px too wide", overflow)
	}
	must(t, "back to a desktop screen", chromedp.Do(bctx, chromedp.EmulateViewport(1100, 900)))
	href, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(row+` a.alert-link`), "href"))
	must(t, "the alert's link", err)

	// With the keyboard alone: Tab reaches the alert's link, Enter opens it.
	must(t, "the triage list", chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(row+` a.alert-link`))))
	reached := false
	for range 30 {
		must(t, "Tab", chromedp.Do(bctx, chromedp.KeyEvent("\t")))
		on, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.activeElement !== null && document.activeElement.matches('a.alert-link')`))
		must(t, "the focused element", err)
		if on {
			reached = true
			break
		}
	}
	if !reached {
		t.Fatal("Tab never reaches the alert's link")
	}
	must(t, "Enter opens the alert", chromedp.Do(bctx, chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(`#proof`))))
	labelled(t, bctx, "the alert's page")

	// The alert's page: the record decrypted, its proof verified; anchored
	// within a few seals.
	verified := false
	for range 40 {
		must(t, "open the alert", chromedp.Do(bctx,
			chromedp.Navigate(srv.URL+href.Value),
			chromedp.WaitVisible(chromedp.CSS(`#proof`))))
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#proof.verified').length`))
		must(t, "look at the proof", err)
		if n == 1 {
			verified = true
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !verified {
		text, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#proof`)))
		t.Fatalf("the alert's proof never showed verified and anchored: %q", text)
	}
	proofText, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#proof`)))
	must(t, "read the proof", err)
	must(t, "screenshot", chromedp.Do(bctx, shot(dir, "provider-alert")))
	if !strings.Contains(proofText, "anchored on the ledger at block") {
		t.Errorf("proof badge: %q", proofText)
	}
	// The pager got the alert; asked from the alert's page, it gets it
	// again under the same ID.
	raised := "alert.raised:" + strings.TrimPrefix(href.Value, "/alerts/")
	for deadline := time.Now().Add(time.Minute); pages(raised) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pager never got %s", raised)
		}
	}
	must(t, "send the alert again to the pagers", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#resend`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-result p`))))
	flash, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#action-result`)))
	must(t, "the resend's answer", err)
	if !strings.Contains(flash, "Sent again to the pagers: alert.raised") {
		t.Errorf("after the resend: %q", flash)
	}
	for deadline := time.Now().Add(time.Minute); pages(raised) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pager got %s %d times after the resend, want 2", raised, pages(raised))
		}
	}
	must(t, "acknowledge", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#acknowledge`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#acknowledge`)),
		chromedp.WaitVisible(chromedp.CSS(`#alert-state`))))
	state, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#alert-state`)))
	must(t, "the alert's state", err)
	if !strings.HasPrefix(state, "acknowledged by provider") {
		t.Errorf("state after acknowledging: %q", state)
	}

	// The acknowledgement is the cloud's, signed by the provider: the other
	// provider of the contract reads it as the command line does
	// (vitalchain provider alerts states), and a portal started afresh
	// (the provider's portal restarted) shows it.
	alertHex := strings.TrimPrefix(href.Value, "/alerts/")
	me0 := s.Providers[0].ID.ID()
	// The other provider sees the first under its relation key with the
	// patient: the care team is unlinkable, also between its members.
	rel0, err := s.Providers[0].P.RelationID(patient.ID.ID())
	must(t, "the first provider's relation key", err)
	states, _, err := s.Providers[1].P.AlertStates(ctx, 0)
	must(t, "the other provider reads the alerts' states", err)
	seen := false
	for _, st := range states {
		if hex.EncodeToString(st.Alert[:]) == alertHex {
			seen = st.State == lifecycle.Acknowledged && st.By == rel0
		}
	}
	if !seen {
		t.Errorf("the other provider does not read alert %s acknowledged by %s: %+v", alertHex[:16], rel0, states)
	}
	arrived := make(chan struct{})
	var once sync.Once
	restarted, err := portal.NewProvider(portal.ProviderConfig{Provider: s.Providers[0].P, Lifecycle: s.Providers[0].P,
		OnAlert: func(a provider.Alert) {
			if hex.EncodeToString(a.ID[:]) == alertHex {
				once.Do(func() { close(arrived) })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	rctx0, stopRestarted := context.WithCancel(ctx)
	defer stopRestarted()
	go restarted.Run(rctx0)
	rsrv := httptest.NewServer(restarted.Handler())
	defer rsrv.Close()
	must(t, "log in to the restarted portal", chromedp.Do(bctx,
		chromedp.Navigate(rsrv.URL+restarted.LoginPath()),
		chromedp.WaitVisible(chromedp.CSS(`#triage-rows`))))
	select { // its page is not found before (and a 404 is a console error)
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the restarted portal never received the alert")
	}
	var after string
	for range 40 {
		must(t, "the alert in the restarted portal", chromedp.Do(bctx, chromedp.Navigate(rsrv.URL+href.Value)))
		after, _ = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
		if strings.Contains(after, "acknowledged by provider "+me0.String()) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !strings.Contains(after, "acknowledged by provider "+me0.String()) {
		t.Errorf("the restarted portal does not show the acknowledgement:\n%s", after)
	}
	must(t, "screenshot", chromedp.Do(bctx, shot(dir, "provider-alert-acknowledged-after-restart")))
	// Both portals keep their session in a cookie of one name on one host:
	// back to the first portal with a new login link.
	stopRestarted()
	must(t, "log in to the first portal again", chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+pp.LoginPath()),
		chromedp.WaitVisible(chromedp.CSS(`#triage-rows`))))

	// The patient's page: a chart (uPlot draws a canvas) per vital sign.
	must(t, "patient page", chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/patients/"+patient.ID.ID().Hex()),
		chromedp.WaitVisible(chromedp.CSS(`.plot canvas`)),
		shot(dir, "provider-patient")))
	labelled(t, bctx, "the provider's patient page")

	// The patient's portal, served with the patient's gateway, in a tab of
	// its own: today's readings, the contracts, and the care team.
	pat, err := portal.NewPatient(portal.PatientConfig{Patient: &gatewaycmd.Keeper{GW: patient.Gateway, Key: patient.ID,
		Chain: s.Chain.Client(0), Cloud: s.Cloud.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	psrv := httptest.NewServer(pat.Handler())
	defer psrv.Close()
	// One tab for both portals: a hidden tab gets no animation frames, on
	// which chromedp's waits rely. Each portal keeps its own cookie.
	ptab := bctx
	must(t, "the patient logs in", chromedp.Do(ptab,
		chromedp.Navigate(psrv.URL+pat.LoginPath()),
		chromedp.WaitVisible(chromedp.CSS(`.plot canvas`)),
		shot(dir, "patient-today")))
	today, err := chromedp.Run(ptab, chromedp.Text(chromedp.CSS(`main`)))
	must(t, "read today's page", err)
	me := s.Providers[0].ID.ID()
	if !strings.Contains(today, "readings; lowest") || !strings.Contains(today, "Alerts go to") || !strings.Contains(today, me.String()) {
		t.Errorf("today's page lacks the readings or the contract naming provider %s:\n%s", me, today)
	}
	// The patient reads the acknowledgement made in the provider's portal.
	if !strings.Contains(today, "acknowledged by provider "+me.String()) {
		t.Errorf("the patient's page does not show the alert acknowledged by provider %s:\n%s", me, today)
	}

	// The patient revokes this provider: the provider's portal loses the
	// patient.
	revoke := fmt.Sprintf(`tr[data-provider="%s"] button.revoke`, me.Hex())
	must(t, "open the care team", chromedp.Do(ptab,
		chromedp.Navigate(psrv.URL+"/sharing"),
		chromedp.WaitVisible(chromedp.CSS(revoke)),
		shot(dir, "patient-sharing")))
	labelled(t, ptab, "the patient's care team page")
	rctx, rcancel := context.WithTimeout(ptab, 30*time.Second)
	if err := chromedp.Do(rctx, chromedp.Click(chromedp.CSS(revoke)), chromedp.WaitVisible(chromedp.CSS(`#sharing-result .flash`))); err != nil {
		html, _ := chromedp.Run(ptab, chromedp.OuterHTML(chromedp.CSS(`main`)))
		t.Fatalf("revoke: %v\nerrors: %v\npage: %s", err, jsErrors(), html)
	}
	rcancel()
	msg, err := chromedp.Run(ptab, chromedp.Text(chromedp.CSS(`#sharing-result .flash`)))
	must(t, "the revoke's answer", err)
	if !strings.Contains(msg, "committed on the ledger") {
		t.Fatalf("after revoking: %q", msg)
	}
	must(t, "the revoked grant leaves the list", chromedp.Do(ptab, chromedp.WaitNotPresent(chromedp.CSS(revoke))))
	if ok, err := s.Providers[0].P.Granted(ctx, patient.ID.ID()); ok || err != nil {
		t.Fatalf("the ledger still says granted after the revoke: %v %v", ok, err)
	}
	must(t, "the revoked patient leaves the list", chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#triage-rows`)),
		chromedp.WaitNotPresent(chromedp.CSS(row))))
	must(t, "the revoked patient's page", chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/patients/"+patient.ID.ID().Hex())))
	body, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
	must(t, "the revoked patient's page", err)
	if !strings.Contains(body, "No grant in force") {
		t.Errorf("a revoked patient's page shows: %q", body)
	}
	// The patient grants again, from the form: the patient comes back, live.
	must(t, "grant again", chromedp.Do(ptab,
		chromedp.Navigate(psrv.URL+"/sharing"),
		chromedp.WaitVisible(chromedp.CSS(`#grant-provider`)),
		chromedp.SendKeys(chromedp.CSS(`#grant-provider`), me.Hex()),
		chromedp.Click(chromedp.CSS(`#grant`)),
		chromedp.WaitVisible(chromedp.CSS(revoke))))
	msg, err = chromedp.Run(ptab, chromedp.Text(chromedp.CSS(`#sharing-result .flash`)))
	must(t, "the grant's answer", err)
	if !strings.HasPrefix(msg, "Granted to provider "+me.String()) {
		t.Errorf("after granting: %q", msg)
	}
	must(t, "the patient granted again comes back", chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(row))))

	// The access log shows the provider's reads of the patient's records.
	must(t, "the access log", chromedp.Do(ptab,
		chromedp.Navigate(psrv.URL+"/access"),
		chromedp.WaitVisible(chromedp.CSS(`tr.allowed`)),
		shot(dir, "patient-access")))
	log, err := chromedp.Run(ptab, chromedp.Text(chromedp.CSS(`main table`)))
	must(t, "read the access log", err)
	if !strings.Contains(log, me.String()) {
		t.Errorf("the access log does not show provider %s's reads:\n%s", me, log)
	}
	// The browser logs the revoked patient's page, refused on purpose, as
	// a failed load: that one is expected, and nothing else.
	var errs []string
	for _, e := range jsErrors() {
		if !strings.Contains(e, "status of 403") || !strings.Contains(e, "/patients/"+patient.ID.ID().Hex()) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("JavaScript errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("screenshots in %s", dir)
}

// labelled fails the test if a control of the page has no name a screen
// reader can say (a label, an aria-label, or a button's text), or a chart
// no text alternative.
func labelled(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, [role=img]')]
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map(e => e.outerHTML.slice(0, 120))`))
	must(t, "look for unlabelled controls on "+page, err)
	if len(bad) > 0 {
		t.Errorf("%s has controls without a name a screen reader can say:\n%s", page, strings.Join(bad, "\n"))
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

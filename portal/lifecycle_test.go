package portal

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
)

// fakeCloud keeps alerts' states as the cloud does (package lifecycle's
// transitions), for several providers' portals.
type fakeCloud struct {
	mu     sync.Mutex
	states map[[32]byte]lifecycle.Status
	seq    uint64
}

// as is the Lifecycle of one provider.
func (c *fakeCloud) as(me identity.ID) Lifecycle { return &fakeProviderLifecycle{c: c, me: me} }

type fakeProviderLifecycle struct {
	c  *fakeCloud
	me identity.ID
}

func (l *fakeProviderLifecycle) ChangeAlert(_ context.Context, id [32]byte, a lifecycle.Action, until time.Time) (*lifecycle.Status, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.states[id]
	if !ok {
		s = lifecycle.New(id, identity.ID{1}, [32]byte{1}, time.Now().UnixMilli())
	}
	if err := s.Apply(lifecycle.Change{Action: a, Actor: l.me, Time: time.Now().UnixMilli(), Until: until.UnixMilli()}); err != nil {
		return nil, &cloudapi.RequestError{Status: http.StatusConflict, Problem: cloudapi.Problem{Code: cloudapi.CodeIllegalTransition, Message: err.Error()}}
	}
	c.seq++
	s.Seq = c.seq
	c.states[id] = s
	return &s, nil
}

func (l *fakeProviderLifecycle) AlertStates(_ context.Context, from uint64) ([]lifecycle.Status, uint64, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []lifecycle.Status
	for _, s := range c.states {
		if s.Seq > from {
			out = append(out, s)
		}
	}
	return out, c.seq, nil
}

func (c *fakeCloud) raise(s lifecycle.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	s.Seq = c.seq
	c.states[s.Alert] = s
}

// portalOn starts a portal of provider me on the fake cloud, logged in.
func portalOn(t *testing.T, c *fakeCloud, me identity.ID, patient identity.ID) (*ProviderPortal, string, *http.Client, string) {
	t.Helper()
	f := &fakeClinician{me: me, granted: map[identity.ID]bool{patient: true}}
	p, err := NewProvider(ProviderConfig{Provider: f, Lifecycle: c.as(me)})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, p.Handler())
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	_, body := get(t, hc, srv+p.LoginPath())
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token:\n%s", body)
	}
	return p, srv, hc, m[1]
}

// An acknowledgement made in one provider's portal is the cloud's: a
// second provider's portal shows who acknowledged it, and so does a
// portal started afresh; a second acknowledgement is refused by the
// lifecycle, from either portal.
func TestPortalStatesAreTheClouds(t *testing.T) {
	c := &fakeCloud{states: map[[32]byte]lifecycle.Status{}}
	pat := identity.ID{1}
	alert := testAlert(pat, 1, contract.Critical, time.Now())
	a, srvA, hcA, csrfA := portalOn(t, c, identity.ID{0xaa}, pat)
	b, srvB, hcB, csrfB := portalOn(t, c, identity.ID{0xbb}, pat)
	a.Observe(alert)
	b.Observe(alert)
	post := func(hc *http.Client, srv, csrf, action string) int {
		t.Helper()
		res, err := hc.PostForm(srv+"/alerts/"+hex.EncodeToString(alert.ID[:])+"/state", url.Values{"csrf": {csrf}, "action": {action}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(hcA, srvA, csrfA, "acknowledge"); code != http.StatusOK {
		t.Fatalf("acknowledge: %d", code)
	}
	b.pullStates(context.Background(), 0)
	_, body := get(t, hcB, srvB+"/alerts/"+hex.EncodeToString(alert.ID[:]))
	if !strings.Contains(body, "acknowledged by provider "+short(identity.ID{0xaa})) {
		t.Errorf("the second provider's portal does not show the acknowledgement:\n%s", body)
	}
	if code := post(hcB, srvB, csrfB, "acknowledge"); code != http.StatusConflict {
		t.Errorf("a second acknowledgement from the other portal: %d, want 409", code)
	}
	// A portal started afresh (a restart) reads the state before its
	// alert arrives, and shows it when it does.
	a2, srvA2, hcA2, _ := portalOn(t, c, identity.ID{0xaa}, pat)
	a2.pullStates(context.Background(), 0)
	a2.Observe(alert)
	if _, body := get(t, hcA2, srvA2+"/alerts/"+hex.EncodeToString(alert.ID[:])); !strings.Contains(body, "acknowledged by provider "+short(identity.ID{0xaa})) {
		t.Errorf("a restarted portal lost the acknowledgement:\n%s", body)
	}

	// A no-data alert of a silent gateway: on the triage list as "no data
	// since", with its own page.
	since := time.Now().Add(-time.Hour).Truncate(time.Minute)
	nd := lifecycle.New(lifecycle.NoDataID(pat, identity.ID{}, since.UnixMilli()), pat, [32]byte{1}, time.Now().UnixMilli())
	nd.NoData, nd.Since = true, since.UnixMilli()
	c.raise(nd)
	b.pullStates(context.Background(), 0)
	_, rows := get(t, hcB, srvB+"/")
	if !strings.Contains(rows, "no data since "+since.Format("Jan 2 15:04")) {
		t.Errorf("the triage list does not say no data since %s:\n%s", since.Format("Jan 2 15:04"), rows)
	}
	code, page := get(t, hcB, srvB+"/alerts/"+hex.EncodeToString(nd.Alert[:]))
	if code != http.StatusOK || !strings.Contains(page, "No data from the patient&#39;s gateway since") {
		t.Errorf("the no-data alert's page: %d\n%s", code, page)
	}
	if _, err := b.cfg.Lifecycle.ChangeAlert(context.Background(), nd.Alert, lifecycle.Resolve, time.Time{}); err != nil {
		t.Fatal(err)
	}
	var re *cloudapi.RequestError
	if _, err := b.cfg.Lifecycle.ChangeAlert(context.Background(), nd.Alert, lifecycle.Ack, time.Time{}); !errors.As(err, &re) {
		t.Errorf("acknowledging a resolved alert: %v", err)
	}
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

package portal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// fakeKeeper stands in for the patient's gateway.
type fakeKeeper struct {
	mu      sync.Mutex
	grants  map[identity.ID]Grant
	failLog bool
}

func (k *fakeKeeper) ID() identity.ID { return identity.ID{0xbb} }
func (k *fakeKeeper) Today(kind vital.Kind, since time.Time) []Minute {
	if kind != vital.Glucose {
		return nil
	}
	t := time.Now().Truncate(time.Minute)
	return []Minute{{Start: t.Add(-time.Minute), Min: 90_000, Max: 110_000, Last: 95_000, N: 60},
		{Start: t, Min: 60_000, Max: 100_000, Last: 60_000, N: 30, Abnormal: 3}}
}
func (k *fakeKeeper) Contracts(ctx context.Context) ([]Contract, error) {
	return []Contract{{Name: "diabetes watch", Providers: []identity.ID{{0xaa}}, Rules: []string{"Glucose: when value < 70, a critical alert"}}}, nil
}
func (k *fakeKeeper) Grants(ctx context.Context) ([]Grant, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []Grant
	for _, g := range k.grants {
		out = append(out, g)
	}
	return out, nil
}
func (k *fakeKeeper) Grant(ctx context.Context, p identity.ID, scope []vital.Kind, commands bool, expiry time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.grants[p] = Grant{Provider: p, Scope: scope, Commands: commands, Expiry: expiry, Active: true}
	return nil
}
func (k *fakeKeeper) Revoke(ctx context.Context, p identity.ID) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	g, ok := k.grants[p]
	if !ok || !g.Active {
		return errors.New("not granted")
	}
	g.Active = false
	k.grants[p] = g
	return nil
}
func (k *fakeKeeper) AccessLog(ctx context.Context) ([]Access, error) {
	if k.failLog {
		return nil, errors.New("the access log does not verify: a forged entry")
	}
	return []Access{{Time: time.Now(), Requester: identity.ID{0xaa}, Record: [32]byte{1}, Allowed: true, What: "read", Anchored: true}}, nil
}

func TestPatientPortal(t *testing.T) {
	k := &fakeKeeper{grants: map[identity.ID]Grant{}}
	p, err := NewPatient(PatientConfig{Patient: k})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	if code, _ := get(t, http.DefaultClient, srv.URL+"/sharing"); code != http.StatusUnauthorized {
		t.Errorf("the care team without a session: %d", code)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, body := get(t, c, srv.URL+p.LoginPath())
	for _, want := range []string{"Glucose", "lowest 60, highest 110, last 60", "3 outside your contract", "diabetes watch", "when value &lt; 70"} {
		if !strings.Contains(body, want) {
			t.Errorf("today's page lacks %q", want)
		}
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
	prov := identity.ID{0xaa}
	post := func(path string, form url.Values) (int, string) {
		res, err := c.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no CSRF token", url.Values{"provider": {prov.Hex()}, "scope": {"glucose"}, "days": {"30"}}, http.StatusForbidden},
		{"a bad provider ID", url.Values{"csrf": {csrf}, "provider": {"zz"}, "scope": {"glucose"}, "days": {"30"}}, http.StatusBadRequest},
		{"no scope", url.Values{"csrf": {csrf}, "provider": {prov.Hex()}, "days": {"30"}}, http.StatusBadRequest},
		{"an unknown vital sign", url.Values{"csrf": {csrf}, "provider": {prov.Hex()}, "scope": {"mood"}, "days": {"30"}}, http.StatusBadRequest},
		{"too long", url.Values{"csrf": {csrf}, "provider": {prov.Hex()}, "scope": {"glucose"}, "days": {"400"}}, http.StatusBadRequest},
	} {
		if code, _ := post("/sharing/grant", tc.form); code != tc.want {
			t.Errorf("grant with %s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if len(k.grants) != 0 {
		t.Fatalf("a refused grant was given: %+v", k.grants)
	}
	code, msg := post("/sharing/grant", url.Values{"csrf": {csrf}, "provider": {prov.Hex()}, "scope": {"glucose", "heart_rate"}, "days": {"7"}})
	if code != http.StatusOK || !strings.Contains(msg, "committed on the ledger") {
		t.Fatalf("grant: %d %s", code, msg)
	}
	if g := k.grants[prov]; len(g.Scope) != 2 || g.Commands || time.Until(g.Expiry) < 6*24*time.Hour {
		t.Errorf("granted %+v", g)
	}
	if _, body := get(t, c, srv.URL+"/sharing"); !strings.Contains(body, `data-provider="`+prov.Hex()) || !strings.Contains(body, "Glucose") {
		t.Errorf("the care team does not list the grant")
	}
	if code, msg := post("/sharing/revoke", url.Values{"csrf": {csrf}, "provider": {prov.Hex()}}); code != http.StatusOK || !strings.Contains(msg, "Revoked") {
		t.Errorf("revoke: %d %s", code, msg)
	}
	if code, _ := post("/sharing/revoke", url.Values{"csrf": {csrf}, "provider": {prov.Hex()}}); code != http.StatusBadGateway {
		t.Errorf("a second revoke: %d", code)
	}
	if _, body := get(t, c, srv.URL+"/access"); !strings.Contains(body, short(prov)) || !strings.Contains(body, "anchored") {
		t.Errorf("the access log:\n%s", body)
	}
	k.failLog = true
	if _, body := get(t, c, srv.URL+"/access"); !strings.Contains(body, "could not be read or verified") || strings.Contains(body, short(prov)) {
		t.Errorf("an access log that does not verify is shown:\n%s", body)
	}
}

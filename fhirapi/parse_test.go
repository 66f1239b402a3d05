package fhirapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" if refused
	}{
		{"patient/Observation.rs", "patient/Observation.rs"},
		{"patient/*.rs", "patient/*.rs"},
		{"user/Patient.r", "user/Patient.r"},
		{"system/*.cruds", "system/*.cruds"},
		{"patient/Observation.read", "patient/Observation.rs"},
		{"user/*.write", "user/*.cud"},
		{"user/*.*", "user/*.cruds"},
		{"patient/Observation.sr", ""},           // out of order
		{"patient/Observation.rr", ""},           // twice
		{"patient/Observation.", ""},             // no permission
		{"patient/Observation.x", ""},            // unknown permission
		{"patient/Medication.rs", ""},            // not served
		{"practitioner/Observation.rs", ""},      // unknown context
		{"patient/Observation.rs?code=1234", ""}, // granular
		{"launch/patient", ""},
		{"openid", ""},
		{"", ""},
	} {
		sc, err := ParseScope(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: accepted as %s", tc.in, sc)
		case tc.want == "" && !errors.Is(err, ErrScope):
			t.Errorf("%q: %v, want ErrScope", tc.in, err)
		case tc.want != "" && (err != nil || sc.String() != tc.want):
			t.Errorf("%q: %v %v, want %s", tc.in, sc, err, tc.want)
		}
	}
}

func TestScopesAllow(t *testing.T) {
	ss, err := ParseScopes("patient/Observation.rs user/Subscription.cd")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ  string
		perm Perm
		want bool
	}{
		{"Observation", PermRead, true},
		{"Observation", PermSearch, true},
		{"Observation", PermCreate, false},
		{"Patient", PermRead, false},
		{"Subscription", PermCreate, true},
		{"Subscription", PermRead, false},
	} {
		if got := allows(ss, tc.typ, tc.perm); got != tc.want {
			t.Errorf("%s %b: %v, want %v", tc.typ, tc.perm, got, tc.want)
		}
	}
}

func TestParseBearer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Bearer vct_abc", "vct_abc"},
		{"bearer vct_abc", "vct_abc"},
		{"  Bearer   vct_abc  ", "vct_abc"},
		{"Basic dXNlcjpwYXNz", ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer a b", ""},
		{"vct_abc", ""},
		{"Bearer " + strings.Repeat("a", 300), ""},
	} {
		got, err := ParseBearer(tc.in)
		if (tc.want == "") != (err != nil) || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestTokensAreStoredHashedAndExpire(t *testing.T) {
	dir := t.TempDir()
	toks, err := OpenTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	p := identity.ID{7}
	tok, err := toks.Issue("ehr", "patient/*.rs", &p, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := toks.Issue("bad name!", "patient/*.rs", nil, time.Hour, now); !errors.Is(err, ErrClient) {
		t.Errorf("a bad client name: %v", err)
	}
	if _, err := toks.Issue("ehr", "patient/Nothing.rs", nil, time.Hour, now); !errors.Is(err, ErrScope) {
		t.Errorf("a bad scope: %v", err)
	}
	// Another process (the server) reads the store.
	other, err := OpenTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := other.lookup(tok, now.Add(time.Minute))
	if err != nil || g.client != "ehr" || g.patient == nil || *g.patient != p || !allows(g.scopes, "Observation", PermSearch) {
		t.Fatalf("lookup: %+v %v", g, err)
	}
	for _, e := range other.entries {
		if strings.Contains(e.Hash, tok) || e.Hash == tok {
			t.Error("the store keeps the token itself")
		}
	}
	if _, err := other.lookup(tok, now.Add(time.Hour)); !errors.Is(err, ErrToken) {
		t.Errorf("an expired token: %v", err)
	}
	if _, err := other.lookup(tok[:len(tok)-1]+"x", now); !errors.Is(err, ErrToken) {
		t.Errorf("a changed token: %v", err)
	}
	if !other.active("ehr", now) || other.active("ehr", now.Add(2*time.Hour)) || other.active("nobody", now) {
		t.Error("active: a client holds a token in force until it expires, and only then")
	}
	if n, err := toks.Revoke("ehr"); n != 1 || err != nil {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if _, err := other.lookup(tok, now); !errors.Is(err, ErrToken) {
		t.Errorf("a revoked token: %v", err)
	}
	if other.active("ehr", now) {
		t.Error("a revoked client is still active: its subscriptions would be notified")
	}
}

func TestParseDate(t *testing.T) {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		in     string
		prefix string
		lo, hi string
	}{
		{"2026", "eq", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"ge2026-12", "ge", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"lt2026-12-06", "lt", "2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z"},
		{"2026-12-06T10:30Z", "eq", "2026-12-06T10:30:00Z", "2026-12-06T10:31:00Z"},
		{"sa2026-12-06T10:30:05+01:00", "sa", "2026-12-06T09:30:05Z", "2026-12-06T09:30:06Z"},
		{"2026-12-06T10:30:05.250Z", "eq", "2026-12-06T10:30:05.25Z", "2026-12-06T10:30:05.251Z"},
		{"xx2026", "", "", ""},
		{"2026-13", "", "", ""},
		{"2026-12-06T10:30", "", "", ""}, // no zone
		{"2026-12-06T10Z", "", "", ""},
		{"today", "", "", ""},
		{"", "", "", ""},
	} {
		d, err := parseDate(tc.in)
		if tc.prefix == "" {
			if err == nil {
				t.Errorf("%q: accepted as %+v", tc.in, d)
			}
			continue
		}
		if err != nil || d.Prefix != tc.prefix || !d.Lo.Equal(at(tc.lo)) || !d.Hi.Equal(at(tc.hi)) {
			t.Errorf("%q: %+v %v, want %s [%s, %s)", tc.in, d, err, tc.prefix, tc.lo, tc.hi)
		}
	}
}

func TestDateMatches(t *testing.T) {
	d, _ := parseDate("2026-12-06")
	before, in, after := time.Date(2026, 12, 5, 23, 59, 59, 0, time.UTC), time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		prefix            string
		before, in, after bool
	}{
		{"eq", false, true, false}, {"ne", true, false, true},
		{"lt", true, false, false}, {"le", true, true, false},
		{"gt", false, false, true}, {"ge", false, true, true},
		{"sa", false, false, true}, {"eb", true, false, false},
	} {
		d.Prefix = tc.prefix
		if d.matches(before) != tc.before || d.matches(in) != tc.in || d.matches(after) != tc.after {
			t.Errorf("%s: %v %v %v", tc.prefix, d.matches(before), d.matches(in), d.matches(after))
		}
	}
}

func TestParseQuery(t *testing.T) {
	p := identity.ID{9}
	obs := append(searchParams["Observation"], lastnParams...)
	for _, tc := range []struct {
		query string
		ok    bool
		check func(query) bool
	}{
		{"patient=" + p.Hex(), true, func(q query) bool { return len(q.Patients) == 1 && q.Patients[0] == p }},
		{"subject=Patient/" + p.Hex(), true, func(q query) bool { return q.Patients[0] == p }},
		{"patient=https://h/fhir/Patient/" + p.Hex(), true, func(q query) bool { return q.Patients[0] == p }},
		{"patient=Patient/zz", false, nil},
		{"code=8867-4,http://loinc.org|59408-5", true, func(q query) bool {
			return len(q.Codes) == 2 && !q.Codes[0].HasSystem && q.Codes[1].System == "http://loinc.org"
		}},
		{"code=a|b|c", false, nil},
		{"code=", false, nil},
		{"date=ge2026&date=lt2027", true, func(q query) bool { return len(q.Dates) == 2 }},
		{"date=ge2026,lt2020", true, func(q query) bool { return len(q.Dates) == 1 && len(q.Dates[0]) == 2 }},
		{"_count=5", true, func(q query) bool { return q.Count == 5 }},
		{"_count=5000", false, nil},
		{"_count=-1", false, nil},
		{"max=3", true, func(q query) bool { return q.Max == 3 }},
		{"max=101", false, nil},
		{"max=1&max=2", false, nil},
		{"code:text=x", false, nil},
		{"_include=Observation:patient", false, nil},
		{"_format=json&_pretty=true", true, func(q query) bool { return q.Count == DefaultCount }},
		{"_id=" + strings.Repeat("a", 65), false, nil},
		{"code=" + strings.Repeat("1,", 40) + "1", false, nil},
	} {
		v, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseQuery(v, obs)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrParam)) {
			t.Errorf("%q: %v, want ok %v", tc.query, err, tc.ok)
			continue
		}
		if tc.ok && !tc.check(q) {
			t.Errorf("%q: %+v", tc.query, q)
		}
	}
}

func TestParseSubscription(t *testing.T) {
	p := identity.ID{5}
	base := func(endpoint, content, filter string) string {
		s := `{"resourceType":"Subscription","status":"requested","reason":"r","criteria":"` + TopicURL + `",` +
			`"channel":{"type":"rest-hook","endpoint":"` + endpoint + `","payload":"application/fhir+json"`
		if content != "" {
			s += `,"_payload":{"extension":[{"url":"` + payloadContent + `","valueCode":"` + content + `"}]}`
		}
		s += `}`
		if filter != "" {
			s += `,"_criteria":{"extension":[{"url":"` + filterCriteria + `","valueString":"` + filter + `"}]}`
		}
		return s + `}`
	}
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"id-only over https", base("https://ehr.example/hook", "id-only", ""), true},
		{"empty to loopback http", base("http://127.0.0.1:9/hook", "empty", ""), true},
		{"a patient filter", base("https://ehr.example/hook", "", "Observation?patient=Patient/"+p.Hex()), true},
		{"full-resource", base("https://ehr.example/hook", "full-resource", ""), false},
		{"http beyond loopback", base("http://ehr.example/hook", "", ""), false},
		{"not a URL", base("ehr", "", ""), false},
		{"another filter", base("https://ehr.example/hook", "", "Observation?code=1"), false},
		{"another resource's filter", base("https://ehr.example/hook", "", "Patient?_id=1"), false},
		{"another topic", strings.Replace(base("https://ehr.example/hook", "", ""), TopicURL, "http://x/topic", 1), false},
		{"a websocket", strings.Replace(base("https://ehr.example/hook", "", ""), "rest-hook", "websocket", 1), false},
		{"headers", strings.Replace(base("https://ehr.example/hook", "", ""), `"type":"rest-hook"`, `"type":"rest-hook","header":["Authorization: x"]`, 1), false},
		{"not a Subscription", `{"resourceType":"Patient"}`, false},
		{"not JSON", `{`, false},
	} {
		_, err := ParseSubscription([]byte(tc.body))
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSubscription)) {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

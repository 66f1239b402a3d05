package fhirapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The parsers of untrusted input never panic, refuse with their sentinel,
// and what they accept is within their bounds.

func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"patient/Observation.rs", "patient/*.rs user/Subscription.crds", "user/*.read", "system/*.*", "patient/Observation.rs?x=1", "a/b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ss, err := ParseScopes(s)
		if err != nil {
			if !errors.Is(err, ErrScope) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		// What is accepted prints as a scope that parses back the same.
		again, err := ParseScopes(joinScopes(ss))
		if err != nil || joinScopes(again) != joinScopes(ss) {
			t.Fatalf("%q → %q → %v", s, joinScopes(ss), err)
		}
	})
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer vct_x", "bearer  x", "Basic x", "", "Bearer"} {
		f.Add(s)
	}
	dir := f.TempDir()
	toks, err := OpenTokens(dir)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	issued, err := toks.Issue("fuzz", "patient/*.rs", nil, time.Hour, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer " + issued)
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseBearer(h)
		if err != nil {
			if !errors.Is(err, ErrToken) {
				t.Fatal(err)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("%q gave %q", h, tok)
		}
		g, err := toks.lookup(tok, now)
		if err == nil && tok != issued {
			t.Fatalf("%q accepted as %+v", tok, g)
		}
		if err != nil && !errors.Is(err, ErrToken) {
			t.Fatal(err)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"patient=Patient/00&code=8867-4", "date=ge2026-12-06T10:00:00Z&date=lt2027", "code=http://loinc.org|8867-4,|x",
		"_count=10&max=3", "_type=Observation,Patient&_since=2026-01-01T00:00:00Z", "date=sa2026-12-06T10:30:05.123+02:00", "_id=a.b-c"} {
		f.Add(s)
	}
	accepted := append(append(append([]param{}, searchParams["Observation"]...), lastnParams...), exportParams...)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := parseQuery(v, accepted)
		if err != nil {
			if !errors.Is(err, ErrParam) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if q.Count < 0 || q.Count > MaxCount || q.Max < 1 || q.Max > MaxLastN {
			t.Fatalf("%q: out of bounds: %+v", s, q)
		}
		for _, or := range q.Dates {
			for _, d := range or {
				if !d.Lo.Before(d.Hi) {
					t.Fatalf("%q: empty date range %+v", s, d)
				}
			}
		}
		for _, id := range q.IDs {
			if !validID(id) {
				t.Fatalf("%q: id %q", s, id)
			}
		}
	})
}

func FuzzParseSubscription(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Subscription","reason":"r","criteria":"` + TopicURL + `","channel":{"type":"rest-hook","endpoint":"https://h/x"}}`))
	f.Add([]byte(`{"resourceType":"Subscription","reason":"r","criteria":"` + TopicURL + `","_criteria":{"extension":[{"url":"` + filterCriteria +
		`","valueString":"Observation?patient=Patient/0101"}]},"channel":{"type":"rest-hook","endpoint":"http://127.0.0.1:1/x","_payload":{"extension":[{"url":"` +
		payloadContent + `","valueCode":"id-only"}]}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sub, err := ParseSubscription(b)
		if err != nil {
			if !errors.Is(err, ErrSubscription) {
				t.Fatal(err)
			}
			return
		}
		if checkEndpoint(sub.Endpoint) != nil || (sub.Content != "id-only" && sub.Content != "empty") || len(sub.Patients) > maxValues {
			t.Fatalf("accepted %+v", sub)
		}
	})
}

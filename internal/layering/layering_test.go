package layering

import (
	"os/exec"
	"strings"
	"testing"
)

// moduleDeps lists every package of the module with what it links (test
// files excluded), as `go list` sees it.
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", mod+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		deps[f[0]] = f[1:]
	}
	if len(deps) < 20 {
		t.Fatalf("go list gave %d packages: %s", len(deps), out)
	}
	return deps
}

// The module keeps its rules.
func TestModuleKeepsTheRules(t *testing.T) {
	deps := moduleDeps(t)
	for _, v := range Check(Rules, deps) {
		t.Error(v)
	}
	// A rule about a package that does not exist (a typo, a move) would
	// hold vacuously.
	for _, r := range Rules {
		for _, p := range r.Packages {
			if strings.HasSuffix(p, "/...") {
				continue
			}
			if _, ok := deps[p]; !ok {
				t.Errorf("a rule names %s, which is not a package of the module", p)
			}
		}
	}
}

// Every rule can fail: a graph in which one of its packages links one of
// the packages it denies breaks that rule, and only that one.
func TestEachRuleCanFail(t *testing.T) {
	concrete := func(pat string) string {
		if p, ok := strings.CutSuffix(pat, "/..."); ok {
			return p + "/x"
		}
		return pat
	}
	for i, r := range Rules {
		for _, pkg := range r.Packages {
			for _, deny := range r.Deny {
				p, d := concrete(pkg), concrete(deny)
				if p == d {
					continue
				}
				vs := Check(Rules, map[string][]string{p: {"fmt", d}})
				found := false
				for _, v := range vs {
					found = found || (v.Rule == &Rules[i] && v.Package == p && v.Dep == d)
				}
				if !found {
					t.Errorf("rule %d: %s linking %s is not reported (%v)", i, p, d, vs)
				}
			}
		}
	}
	if vs := Check(Rules, map[string][]string{mod + "/ledger": {"fmt", mod + "/codec", mod + "/ledger"}}); len(vs) != 0 {
		t.Errorf("a graph that keeps the rules: %v", vs)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"net", "net", true},
		{"net", "net/http", false},
		{"a/b/...", "a/b", true},
		{"a/b/...", "a/b/c/d", true},
		{"a/b/...", "a/bc", false},
		{"a/b", "a/b/c", false},
	} {
		if got := Match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("Match(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
}

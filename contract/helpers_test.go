package contract

import (
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

// testID returns an ID whose bytes are b, b+1, ..., b+31.
func testID(b byte) identity.ID {
	var id identity.ID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

// testTerms returns valid terms: patient 0xa0.., providers 0x10.. and
// 0x20.., the default rules.
func testTerms() Terms {
	return Terms{
		Version:   Version,
		Patient:   testID(0xa0),
		Providers: []identity.ID{testID(0x10), testID(0x20)},
		Rules:     DefaultRules(),
		Name:      "home monitoring",
	}
}

func mustCompile(t testing.TB, rules []Rule) *Program {
	t.Helper()
	p, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

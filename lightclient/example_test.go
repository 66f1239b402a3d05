package lightclient_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/vitalchain/vitalchain/lightclient"
)

// read reads a node's answer captured in testdata/localnet (a client gets
// it from the node: GET /commit?height=H, /validators?height=H&page=1&per_page=100).
func read(name string) []byte {
	b, err := os.ReadFile("testdata/localnet/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

// A client roots its trust in the chain's genesis, verifies the headers
// a node serves, refuses a forged one, and persists its trust.
func Example() {
	g, err := lightclient.DecodeGenesis(read("genesis.json"))
	if err != nil {
		panic(err)
	}
	trust, err := lightclient.TrustGenesis(g)
	if err != nil {
		panic(err)
	}
	v, err := lightclient.New(trust, lightclient.Options{})
	if err != nil {
		panic(err)
	}

	fetch := func(h int) (*lightclient.SignedHeader, *lightclient.ValidatorSet) {
		sh, err := lightclient.DecodeCommit(read(fmt.Sprintf("commit-%d.json", h)))
		if err != nil {
			panic(err)
		}
		page, err := lightclient.DecodeValidators(read(fmt.Sprintf("validators-%d.json", h)))
		if err != nil {
			panic(err)
		}
		vals, err := lightclient.JoinPages(page) // every page of the set
		if err != nil {
			panic(err)
		}
		return sh, vals
	}
	sh, vals := fetch(2)
	now := sh.Header.Time.Add(3) // a client says time.Now()
	if err := v.Verify(now, sh, vals); err != nil {
		panic(err)
	}
	fmt.Println("header 2 verified; its AppHash commits the state after block 1")

	// A node changes the state's hash in header 3: the commit does not
	// sign that header.
	sh, vals = fetch(3)
	sh.Header.AppHash[0] ^= 1
	err = v.Verify(now.Add(1e9), sh, vals)
	fmt.Println("forged header 3 refused:", errors.Is(err, lightclient.ErrInvalidHeader))

	sh, vals = fetch(3)
	fmt.Println("header 3 verified:", v.Verify(now.Add(1e9), sh, vals) == nil)

	// The trust survives a restart.
	state, err := v.Trusted().MarshalBinary()
	if err != nil {
		panic(err)
	}
	var restored lightclient.Trusted
	if err := restored.UnmarshalBinary(state); err != nil {
		panic(err)
	}
	fmt.Println("trusted height after a restart:", restored.Height)
	// Output:
	// header 2 verified; its AppHash commits the state after block 1
	// forged header 3 refused: true
	// header 3 verified: true
	// trusted height after a restart: 3
}

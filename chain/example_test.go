package chain_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/ledger"
)

// WriteTestnet writes the homes of a network of authorities, each the head
// of its own cluster in one shared genesis; `vitalchain node --home` runs each.
func ExampleWriteTestnet() {
	dir, _ := os.MkdirTemp("", "testnet")
	defer os.RemoveAll(dir)
	tn, err := chain.WriteTestnet(chain.TestnetOptions{Nodes: 3, Dir: dir})
	if err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(filepath.Join(tn.Homes[0], "config", "genesis.json"))
	var doc struct {
		AppState ledger.Genesis `json:"app_state"`
	}
	if err := jsonUnmarshal(b, &doc); err != nil {
		panic(err)
	}
	for i, a := range doc.AppState.Authorities {
		fmt.Println(filepath.Base(tn.Homes[i]), a.Name, "heads cluster", a.Cluster)
	}
	// Output:
	// node0 authority0 heads cluster 1
	// node1 authority1 heads cluster 2
	// node2 authority2 heads cluster 3
}

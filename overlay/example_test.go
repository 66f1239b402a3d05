package overlay_test

import (
	"fmt"

	"github.com/vitalchain/vitalchain/overlay"
)

// Example runs three nodes in a line, a - b - c, over a perfect channel: the
// caller ticks each node once per HELLO period, hands every message a node
// sends to its neighbours, and acts on the decisions.
func Example() {
	names := []string{"a", "b", "c"}
	links := map[string][]string{"a": {"b"}, "b": {"a", "c"}, "c": {"b"}}
	nodes := map[string]*overlay.Node{}
	byID := map[overlay.ID]string{}
	for i, name := range names {
		var id overlay.ID // in practice identity.ID: the hash of the node's public key
		id[0] = byte(i + 1)
		n, err := overlay.New(overlay.Config{ID: id, Eligible: true, Incarnation: 1})
		if err != nil {
			panic(err)
		}
		nodes[name], byID[id] = n, name
	}
	deliver := func() (sent int) {
		for _, name := range names {
			out, decisions := nodes[name].Ready()
			for _, d := range decisions {
				switch d := d.(type) {
				case overlay.BecameHead:
					fmt.Printf("%s: became head (epoch %d)\n", name, d.Epoch)
				case overlay.Joined:
					fmt.Printf("%s: joined %s\n", name, byID[d.Head])
				}
			}
			for _, m := range out {
				wire, err := m.Encode() // what goes on the network
				if err != nil {
					panic(err)
				}
				for _, nb := range links[name] {
					got, err := overlay.DecodeMessage(wire)
					if err != nil {
						panic(err)
					}
					if err := nodes[nb].Step(got); err != nil {
						panic(err)
					}
				}
				sent++
			}
		}
		return sent
	}
	for range 5 { // HELLO periods
		for _, name := range names {
			nodes[name].Tick()
		}
		for deliver() > 0 {
		}
	}
	st := nodes["b"].Status()
	fmt.Printf("b: %s of a cluster of %d\n", st.Role, st.Size)
	// Output:
	// b: became head (epoch 1)
	// c: joined b
	// a: joined b
	// b: head of a cluster of 3
}

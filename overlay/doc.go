// Package overlay elects the Cluster Heads of VitalChain's overlay network:
// the authorities of the chain.
//
// Nodes (patients' gateways, providers' computers, hospital servers) are
// grouped into one-hop clusters so that an alert travels member -> head ->
// heads -> member instead of being flooded to every node. Each cluster's head
// is elected with a SYSTAS-style algorithm (distributed, density-based,
// using only local topology): every node learns its neighbours and their
// neighbour lists from periodic HELLO messages, computes its density
//
//	rho(v) = |N1(v)| * (1 + cc(v))
//
// (cc the local clustering coefficient, in fixed point) and ranks itself by
// the key (rho desc, degree desc, id asc), preceded, where some nodes may not
// be heads, by how many of those have it as their only eligible neighbour
// (Key.Cover). A node decides once every
// higher-key eligible neighbour has decided: if a neighbour is a head it
// joins one by preferential attachment (largest cluster, then key),
// otherwise it announces itself head. Heads therefore never neighbour each
// other, and every node is a head or a neighbour of its head.
//
// Heads send their heartbeat on their HELLO, with a ranked list of
// successors; when a head falls silent for three periods its members suspect
// it, and the successor at rank r takes the cluster over (epoch+1) after 3+r
// missed periods unless a head is already in reach. Members migrate, with
// hysteresis, to a neighbouring cluster that stays larger; of two adjacent
// heads the lower key resigns. Only authority-eligible nodes become heads;
// a node that is not eligible joins any head in reach, or reports itself
// unclustered.
//
// Under mobility (Config.Moving): a node that sees its neighbourhood change
// after start (a neighbour lost or new, or a neighbour's list changed)
// counts itself as moving for a while. A moving member joins another head
// in reach after one missed heartbeat of its own, prefers the nearest head
// (the one it shares most neighbours with) to the largest cluster, and
// moves before its head's link breaks to a head that shares Config.Closer
// more neighbours with it. A static network never triggers these rules.
//
// The package is pure, in the style of go.etcd.io/raft: no I/O, goroutines
// or clock. The caller feeds a Node the messages it receives (Step) and one
// Tick per HELLO period, and collects what to broadcast and the decisions
// taken (Ready). Decisions such as BecameHead and HeadChanged tell a chain
// node when to submit a handover transaction. Messages have a compact
// deterministic CBOR encoding (Message.Encode, DecodeMessage); the
// decoder takes untrusted bytes. Package overlay/sim simulates the
// algorithm on random geometric graphs.
package overlay

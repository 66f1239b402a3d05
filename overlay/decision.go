package overlay

import "fmt"

// Decision is an event of a Node that its caller acts on, returned by Ready
// in the order taken. It is one of BecameHead, Resigned, Joined,
// HeadChanged, Left and Unclustered.
type Decision interface {
	fmt.Stringer
	decision()
}

// BecameHead: this node is now the head of Cluster at Epoch. Prev is the
// head it took over from (Epoch > 1, a succession) or zero for a cluster it
// founded. A chain node submits a handover transaction for Cluster when
// Prev is not zero.
type BecameHead struct {
	Cluster ClusterID
	Epoch   uint64
	Prev    ID
}

// Reason says why a head resigned.
type Reason uint8

const (
	// ReasonAdjacent: a neighbouring head has a higher key.
	ReasonAdjacent Reason = 1
	// ReasonSuperseded: another node holds a better claim (higher epoch,
	// or the same epoch and a lower ID) to the same cluster. When that
	// claimant is not a neighbour, the node founds a new cluster at once
	// (BecameHead follows) and keeps its members.
	ReasonSuperseded Reason = 2
)

// String names the reason.
func (r Reason) String() string {
	switch r {
	case ReasonAdjacent:
		return "adjacent"
	case ReasonSuperseded:
		return "superseded"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Resigned: this node is no longer the head of Cluster.
type Resigned struct {
	Cluster ClusterID
	Epoch   uint64
	Reason  Reason
}

// Joined: this node is now a member of Cluster, whose head is Head.
type Joined struct {
	Cluster ClusterID
	Head    ID
	Epoch   uint64
}

// HeadChanged: this member's cluster has a new head (a succession): New took
// Cluster over from Old at Epoch.
type HeadChanged struct {
	Cluster ClusterID
	Old     ID
	New     ID
	Epoch   uint64
}

// Left: this node left Cluster without joining another at once (its head
// fell silent or resigned and no head is in reach); it is electing again.
type Left struct {
	Cluster ClusterID
	Head    ID
}

// Unclustered: this node, which may not be head, has no head in reach.
type Unclustered struct{}

func (BecameHead) decision()  {}
func (Resigned) decision()    {}
func (Joined) decision()      {}
func (HeadChanged) decision() {}
func (Left) decision()        {}
func (Unclustered) decision() {}

func (d BecameHead) String() string {
	return fmt.Sprintf("became head of %s epoch %d (prev %s)", d.Cluster, d.Epoch, d.Prev)
}
func (d Resigned) String() string {
	return fmt.Sprintf("resigned from %s epoch %d: %s", d.Cluster, d.Epoch, d.Reason)
}
func (d Joined) String() string {
	return fmt.Sprintf("joined %s (head %s, epoch %d)", d.Cluster, d.Head, d.Epoch)
}
func (d HeadChanged) String() string {
	return fmt.Sprintf("head of %s changed %s -> %s (epoch %d)", d.Cluster, d.Old, d.New, d.Epoch)
}
func (d Left) String() string      { return fmt.Sprintf("left %s (head %s)", d.Cluster, d.Head) }
func (Unclustered) String() string { return "unclustered: no head in reach" }

package udp

import (
	"context"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/overlay"
)

// maxMembers bounds the membership a Runner caches, and so the senders
// whose counters it remembers. A cluster with more members on the ledger
// admits the first maxMembers the ledger lists: the head and the
// authority-eligible members first.
const maxMembers = 1 << 14

// membership is this node's cluster as the driver last read it from the
// ledger (ledger.ClusterInfo): the senders the overlay admits, and which of
// them may claim to be eligible or head. It is never modified once
// published.
type membership struct {
	cluster uint32
	known   bool                 // this node is a registered member: cluster is its cluster
	self    identity.Role        // this node's role on the ledger, once known
	members map[identity.ID]bool // member → authority-eligible
}

// lookup reports whether id is admitted, and whether it may claim
// eligibility. A nil membership admits nobody.
func (m *membership) lookup(id identity.ID) (eligible, member bool) {
	if m == nil {
		return false, false
	}
	eligible, member = m.members[id]
	return eligible, member
}

func (m *membership) clusterNum() uint32 {
	if m == nil {
		return 0
	}
	return m.cluster
}

func (m *membership) size() int {
	if m == nil {
		return 0
	}
	return len(m.members)
}

// readMembership reads this node's membership from the ledger: its own
// registration, then its cluster. A node that is not registered admits
// nobody.
func readMembership(ctx context.Context, l Ledger, me identity.ID) (*membership, error) {
	m, err := l.Member(ctx, me)
	if errors.Is(err, client.ErrNotFound) {
		return &membership{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: membership of %s: %w", me, err)
	}
	info, err := l.Cluster(ctx, m.Cluster)
	if err != nil {
		return nil, fmt.Errorf("overlay: cluster %d: %w", m.Cluster, err)
	}
	ms := &membership{cluster: m.Cluster, known: true, self: m.Role, members: map[identity.ID]bool{}}
	add := func(eligible bool, ids ...identity.ID) {
		for _, id := range ids {
			if len(ms.members) >= maxMembers || id == (identity.ID{}) {
				return
			}
			ms.members[id] = ms.members[id] || eligible
		}
	}
	add(true, info.Cluster.Head)
	add(true, info.Eligible...)
	add(false, info.Requesters...)
	add(false, info.Requestees...)
	add(false, info.Devices...)
	add(false, info.Clouds...)
	return ms, nil
}

// refresh reads the membership again and publishes it for the receiving
// goroutine; if the ledger now lists this node as authority-eligible and
// its overlay node is not, it restarts that node as an eligible one, under
// a new incarnation. It runs on the driver's goroutine (and in Start).
func (r *Runner) refresh(ctx context.Context) error {
	ms, err := readMembership(ctx, r.ledger, r.id)
	if err != nil {
		return err
	}
	if old := r.members.Swap(ms); old.size() != ms.size() || old.clusterNum() != ms.cluster {
		r.log.Info("overlay: membership", "cluster", ms.cluster, "members", len(ms.members))
	}
	if r.eligible || ms.self != identity.RoleAuthority {
		return nil
	}
	inc, err := r.counter.Incarnation()
	if err != nil {
		return err
	}
	n, err := overlay.New(overlay.Config{ID: r.id, Eligible: true, Incarnation: inc})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.node = n
	r.mu.Unlock()
	r.eligible = true
	r.log.Info("overlay: this node is now authority-eligible")
	return nil
}

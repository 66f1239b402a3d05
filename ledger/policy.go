package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// ConsensusAddress returns the address CometBFT gives an Ed25519 consensus
// key: the first 20 bytes of its SHA-256.
func ConsensusAddress(pub []byte) []byte {
	h := sha256.Sum256(pub)
	return h[:20]
}

// The proposer policy is the paper's "each Cluster Head decides whether to
// keep the hash of a new block or passes it to another": a proposer includes
// anchors from its own cluster's clouds first, at most AnchorCap of them; an
// anchor from another cluster's cloud it passes on to that cluster's head,
// unless that head is no authority now or the anchor has waited
// AnchorPassAfterMs since it was sealed. A proposer takes no more of one
// signer's transactions than its role's cap (Params.Caps), and none signed
// for another chain. What a proposer leaves out stays in the mempool for
// the next proposer. ProcessProposal holds other proposers to the same
// rules.

// Prepare chooses a proposal's transactions from the mempool's txs, in
// order, within maxBytes.
func (m *Machine) Prepare(st Store, proposer []byte, t time.Time, txs [][]byte, maxBytes int64) ([][]byte, error) {
	p, err := newPolicy(st, proposer, t)
	if err != nil {
		return nil, err
	}
	var own, rest [][]byte
	var size int64
	anchors := uint32(0)
	for _, tx := range txs {
		if size+int64(len(tx)) > maxBytes {
			continue
		}
		d, err := m.decode(tx, false)
		if err != nil || wrongChain(&d.Tx, p.x.chainID) != nil {
			continue // it can only fail
		}
		a, isAnchor := d.Body.(*Anchor)
		mine := false
		if isAnchor {
			if anchors >= p.params.AnchorCap {
				continue
			}
			var allowed bool
			if mine, allowed, err = p.anchor(d, a); err != nil {
				return nil, err
			}
			if !allowed {
				continue
			}
		}
		// Last, so that only what goes in counts against the signer's cap.
		if err := p.x.quota.admit(d, len(tx)); errors.Is(err, errStore) {
			return nil, err
		} else if err != nil {
			continue // over its signer's cap: for a later block
		}
		if isAnchor {
			anchors++
		}
		size += int64(len(tx))
		if mine {
			own = append(own, tx)
		} else {
			rest = append(rest, tx)
		}
	}
	return append(own, rest...), nil
}

// Process checks another proposer's proposal against the policy. It returns
// an error (code CodePolicy or CodeMalformed) if the proposal must be rejected.
func (m *Machine) Process(st Store, proposer []byte, t time.Time, txs [][]byte) error {
	p, err := newPolicy(st, proposer, t)
	if err != nil {
		return err
	}
	anchors := uint32(0)
	for i, tx := range txs {
		d, err := m.decode(tx, false)
		if err != nil {
			return errorf(CodeMalformed, "proposal tx %d: %v", i, err)
		}
		// A transaction this node had not checked is verified here, once:
		// FinalizeBlock takes it from the cache.
		m.remember(d)
		if err := wrongChain(&d.Tx, p.x.chainID); err != nil {
			return errorf(CodePolicy, "proposal tx %d: %v", i, err) // no mempool admits it
		}
		if err := p.x.quota.admit(d, len(tx)); errors.Is(err, errStore) {
			return err
		} else if err != nil {
			return errorf(CodePolicy, "proposal tx %d: %v", i, err)
		}
		a, ok := d.Body.(*Anchor)
		if !ok {
			continue
		}
		anchors++
		if anchors > p.params.AnchorCap {
			return errorf(CodePolicy, "proposal has more than %d anchors", p.params.AnchorCap)
		}
		_, allowed, err := p.anchor(d, a)
		if err != nil {
			return err
		}
		if !allowed {
			return errorf(CodePolicy, "proposal tx %d: an anchor for another cluster's head, not yet passed on", i)
		}
	}
	return nil
}

type policy struct {
	x        *exec
	params   Params
	proposer identity.ID // zero if the proposer is not a known authority
	auths    []Authority
	now      int64
}

func newPolicy(st Store, proposerAddr []byte, t time.Time) (*policy, error) {
	x, err := newExec(st, 0, t)
	if err != nil {
		return nil, err
	}
	x.tx = map[string][]byte{}
	auths, err := x.authorities()
	if err != nil {
		return nil, err
	}
	p := &policy{x: x, params: x.params, auths: auths, now: t.UnixMilli()}
	for _, a := range auths {
		if bytes.Equal(ConsensusAddress(a.Consensus), proposerAddr) {
			p.proposer = a.ID
		}
	}
	return p, nil
}

// anchor reports whether an anchor comes from the proposer's own cluster,
// and whether the policy lets the proposer include it.
func (p *policy) anchor(d *Decoded, a *Anchor) (mine, allowed bool, err error) {
	var cloud Member
	ok, err := p.x.get(key(pMember, sigID(d)), &cloud)
	if err != nil {
		return false, false, err
	}
	if !ok || cloud.Role != identity.RoleCloud {
		return false, true, nil // it will be refused with its reason
	}
	var c Cluster
	if _, err := p.x.get(key(pCluster, be32(cloud.Cluster)), &c); err != nil {
		return false, false, err
	}
	if c.Head == p.proposer && p.proposer != (identity.ID{}) {
		return true, true, nil
	}
	if findAuthority(p.auths, c.Head) < 0 {
		return false, true, nil // the cluster has no live head to keep it
	}
	if p.params.AnchorPassAfterMs == 0 {
		// No passing. The block time is not now: CometBFT stamps a block
		// with its previous commit's time, so an anchor sealed since that
		// commit would look younger than 0 ms, and be passed on at the
		// cost of an empty block and a round of latency.
		return false, true, nil
	}
	return false, p.now-a.Sealed >= p.params.AnchorPassAfterMs, nil
}

func sigID(d *Decoded) []byte {
	id := d.Tx.SignerID()
	return id[:]
}

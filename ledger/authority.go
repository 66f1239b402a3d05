package ledger

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// Vote is an authority's vote to add a registered authority-eligible member
// to the authorities, or to remove one. As in Clique, a change passes when
// more than half of the current authorities have voted for it.
type Vote struct {
	Candidate identity.ID `cbor:"1,keyasint"`
	Add       bool        `cbor:"2,keyasint"`
}

// TxType implements Body.
func (*Vote) TxType() Type { return TypeVote }

func (v *Vote) check(*Decoded) error { return nil }

func (v *Vote) apply(x *exec, d *Decoded) error {
	if _, err := x.signer(d, identity.RoleAuthority); err != nil {
		return err
	}
	auths, err := x.authorities()
	if err != nil {
		return err
	}
	voter := d.Tx.SignerID()
	if findAuthority(auths, voter) < 0 {
		return errorf(CodeUnauthorized, "only a current authority votes")
	}
	cand, err := x.member(v.Candidate, "candidate")
	if err != nil {
		return err
	}
	if cand.Role != identity.RoleAuthority {
		return errorf(CodeWrongRole, "candidate %s is a %s, not authority-eligible", v.Candidate, cand.Role)
	}
	isAuth := findAuthority(auths, v.Candidate) >= 0
	pending, err := x.pending()
	if err != nil {
		return err
	}
	for _, p := range pending {
		if p.ID == v.Candidate {
			return errorf(CodeInvalid, "a change for %s is already pending", v.Candidate)
		}
	}
	if v.Add == isAuth {
		if v.Add {
			return errorf(CodeInvalid, "%s is already an authority", v.Candidate)
		}
		return errorf(CodeInvalid, "%s is not an authority", v.Candidate)
	}
	if v.Add {
		if err := consensusKeyFree(auths, pending, v.Candidate, cand.Consensus); err != nil {
			return err
		}
	} else if remaining(auths, pending) <= 1 {
		return errorf(CodeInvalid, "%s is the last authority left", v.Candidate)
	}
	op := byte(0)
	if v.Add {
		op = 1
	}
	k := key(pVote, v.Candidate[:], []byte{op})
	var voters voteTally
	if _, err := x.get(k, &voters); err != nil {
		return err
	}
	i, found := slices.BinarySearchFunc(voters.Voters, voter, cmpID)
	if found {
		return errorf(CodeDuplicate, "authority %s has already voted for this", voter)
	}
	voters.Voters = slices.Insert(voters.Voters, i, voter)
	// Count only the votes of current authorities.
	n := 0
	for _, id := range voters.Voters {
		if findAuthority(auths, id) >= 0 {
			n++
		}
	}
	x.emit(EventVote, Attr{AttrCandidate, v.Candidate.Hex()}, Attr{AttrAdd, boolText(v.Add)},
		Attr{AttrVoter, voter.Hex()}, Attr{AttrVotes, itoa(int64(n))}, Attr{AttrAuthorities, itoa(int64(len(auths)))})
	if 2*n <= len(auths) {
		return x.put(k, &voters)
	}
	x.del(k)
	change := Authority{ID: v.Candidate, Consensus: cand.Consensus}
	if v.Add {
		change.Power = x.params.AuthorityPower
	}
	x.emit(EventAuthorityChange, Attr{AttrID, v.Candidate.Hex()}, Attr{AttrAdd, boolText(v.Add)})
	return x.queue(change)
}

type voteTally struct {
	Voters []identity.ID `cbor:"1,keyasint"`
}

// Handover installs a cluster's new Cluster Head (the overlay elects it) as
// an authority in place of the old one. The new head signs it; the old head
// attests it, or, if the old head is gone, more than half of the current
// authorities do.
type Handover struct {
	Cluster      uint32        `cbor:"1,keyasint"`
	NewHead      identity.ID   `cbor:"2,keyasint"`
	Attestations []Attestation `cbor:"3,keyasint"`
}

// Attestation is an authority's signature over a HandoverStatement.
type Attestation struct {
	Authority identity.ID `cbor:"1,keyasint"`
	Sig       []byte      `cbor:"2,keyasint"`
}

// HandoverStatement is what an attestation signs (context "handover/v1").
// Naming the old head makes an attestation worthless once the handover, or
// any other, has happened.
type HandoverStatement struct {
	Cluster uint32      `cbor:"1,keyasint"`
	OldHead identity.ID `cbor:"2,keyasint"`
	NewHead identity.ID `cbor:"3,keyasint"`
}

const handoverContext = "handover/v1"

// Attest returns an authority's attestation of a handover.
func Attest(authority *identity.SigningKey, s HandoverStatement) (Attestation, error) {
	msg, err := codec.Marshal(&s)
	if err != nil {
		return Attestation{}, err
	}
	return Attestation{Authority: authority.Public().ID(), Sig: authority.SignContext(handoverContext, msg)}, nil
}

// TxType implements Body.
func (*Handover) TxType() Type { return TypeHandover }

func (h *Handover) check(d *Decoded) error {
	if h.NewHead != d.Tx.SignerID() {
		return errorf(CodeUnauthorized, "a handover is signed by the new head")
	}
	for i := 1; i < len(h.Attestations); i++ {
		if !idLess(h.Attestations[i-1].Authority, h.Attestations[i].Authority) {
			return errorf(CodeMalformed, "attestations must be ascending by authority with no repeats")
		}
	}
	return nil
}

func (h *Handover) apply(x *exec, d *Decoded) error {
	head, err := x.signer(d, identity.RoleAuthority)
	if err != nil {
		return err
	}
	var c Cluster
	ok, err := x.get(key(pCluster, be32(h.Cluster)), &c)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeNotFound, "cluster %d does not exist", h.Cluster)
	}
	if head.Cluster != h.Cluster {
		return errorf(CodeUnauthorized, "%s is a member of cluster %d, not %d", h.NewHead, head.Cluster, h.Cluster)
	}
	if c.Head == h.NewHead {
		return errorf(CodeDuplicate, "%s already heads cluster %d", h.NewHead, h.Cluster)
	}
	auths, err := x.authorities()
	if err != nil {
		return err
	}
	msg, err := codec.Marshal(&HandoverStatement{Cluster: h.Cluster, OldHead: c.Head, NewHead: h.NewHead})
	if err != nil {
		return wrap(CodeMalformed, "handover", err)
	}
	byOld, n := false, 0
	for _, a := range h.Attestations {
		i := findAuthority(auths, a.Authority)
		if i < 0 {
			return errorf(CodeUnauthorized, "attestation by %s, who is not an authority", a.Authority)
		}
		m, err := x.member(a.Authority, "attesting authority")
		if err != nil {
			return err
		}
		if err := identity.VerifyContext(m.Verifying, handoverContext, msg, a.Sig); err != nil {
			return wrap(CodeBadSignature, "attestation by "+a.Authority.String(), err)
		}
		n++
		if a.Authority == c.Head {
			byOld = true
		}
	}
	if !byOld && 2*n <= len(auths) {
		since, absent, err := x.absentSince(c.Head)
		if err != nil {
			return err
		}
		gone := absent && x.params.HeadAbsentMs > 0 && x.now-since >= x.params.HeadAbsentMs
		if !gone {
			why := "it has signed the latest commits"
			if absent {
				why = fmt.Sprintf("it has been absent from the commits for %d ms of the %d required", x.now-since, x.params.HeadAbsentMs)
			}
			return errorf(CodeUnauthorized, "handover attested by %d of %d authorities and not by the old head, and %s", n, len(auths), why)
		}
	}
	old := c.Head
	c.Head = h.NewHead
	if err := x.put(key(pCluster, be32(h.Cluster)), &c); err != nil {
		return err
	}
	if findAuthority(auths, h.NewHead) < 0 {
		pending, err := x.pending()
		if err != nil {
			return err
		}
		if err := consensusKeyFree(auths, pending, h.NewHead, head.Consensus); err != nil {
			return err
		}
		if err := x.queue(Authority{ID: h.NewHead, Consensus: head.Consensus, Power: x.params.AuthorityPower}); err != nil {
			return err
		}
	}
	if i := findAuthority(auths, old); i >= 0 {
		if err := x.queue(Authority{ID: old, Consensus: auths[i].Consensus, Power: 0}); err != nil {
			return err
		}
	}
	x.emit(EventHandover, Attr{AttrCluster, itoa(int64(h.Cluster))}, Attr{AttrOldHead, old.Hex()}, Attr{AttrNewHead, h.NewHead.Hex()})
	return nil
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

type authorityList struct {
	List []Authority `cbor:"1,keyasint"`
}

func (x *exec) authorities() ([]Authority, error) {
	var l authorityList
	_, err := x.get([]byte{pAuthorities}, &l)
	return l.List, err
}

func (x *exec) pending() ([]Authority, error) {
	var l authorityList
	_, err := x.get([]byte{pPending}, &l)
	return l.List, err
}

// consensusKeyFree refuses to make id an authority with a consensus key
// that another current authority, or another pending addition, already has:
// CometBFT knows a validator only by its key, so two authorities sharing one
// would be one validator to it and two to the ledger.
func consensusKeyFree(auths, pending []Authority, id identity.ID, consensus []byte) error {
	for _, list := range [][]Authority{auths, pending} {
		for _, a := range list {
			if a.Power > 0 && a.ID != id && bytes.Equal(a.Consensus, consensus) {
				return errorf(CodeDuplicate, "consensus key %x is already authority %s's", consensus[:min(len(consensus), 8)], a.ID)
			}
		}
	}
	return nil
}

// remaining returns how many authorities are left once the pending
// removals are applied.
func remaining(auths, pending []Authority) int {
	n := len(auths)
	removed := map[identity.ID]bool{}
	for _, p := range pending {
		if p.Power == 0 && findAuthority(auths, p.ID) >= 0 && !removed[p.ID] {
			removed[p.ID] = true
			n--
		}
	}
	return n
}

func findAuthority(list []Authority, id identity.ID) int {
	for i, a := range list {
		if a.ID == id {
			return i
		}
	}
	return -1
}

// queue adds a validator change to apply at the end of a block.
func (x *exec) queue(a Authority) error {
	p, err := x.pending()
	if err != nil {
		return err
	}
	return x.put([]byte{pPending}, &authorityList{List: append(p, a)})
}

// endBlock applies pending validator changes, additions first so that the
// set stays live, never changing more than a third of the voting power in
// one block (but always at least one change, so that a small set can still
// change); what is left waits for the next block.
func (x *exec) endBlock() error {
	x.tx = map[string][]byte{}
	defer func() {
		for k, v := range x.tx {
			x.block[k] = v
		}
		x.tx = nil
	}()
	pending, err := x.pending()
	if err != nil || len(pending) == 0 {
		return err
	}
	auths, err := x.authorities()
	if err != nil {
		return err
	}
	var total int64
	for _, a := range auths {
		total += a.Power
	}
	// Additions before removals, otherwise in queue order.
	slices.SortStableFunc(pending, func(a, b Authority) int {
		return boolInt(b.Power > 0) - boolInt(a.Power > 0)
	})
	var changed int64
	applied, n := 0, 0 // changes taken from pending; of them, changes made
	for _, p := range pending {
		delta := p.Power
		i := findAuthority(auths, p.ID)
		if i >= 0 {
			delta -= auths[i].Power
		}
		if delta < 0 {
			delta = -delta
		}
		// A change that changes nothing (the removal of one who is no
		// longer an authority, an addition of one who already is: a vote
		// and a handover may queue the same change) and the removal of
		// the last authority are dropped: CometBFT halts on an update
		// that removes an unknown validator, repeats a key, or empties
		// the set.
		if delta == 0 || (p.Power == 0 && len(auths) == 1) {
			applied++
			continue
		}
		if n > 0 && 3*(changed+delta) > total {
			break
		}
		changed += delta
		applied++
		n++
		if p.Power == 0 {
			if i >= 0 {
				auths = slices.Delete(auths, i, i+1)
				x.del(key(pAbsent, p.ID[:])) // no longer tracked
			}
		} else if i >= 0 {
			auths[i].Power = p.Power
		} else {
			auths = append(auths, p)
			slices.SortFunc(auths, func(a, b Authority) int { return bytes.Compare(a.ID[:], b.ID[:]) })
		}
		x.updates = append(x.updates, ValidatorUpdate{PubKey: p.Consensus, Power: p.Power})
	}
	if err := x.put([]byte{pAuthorities}, &authorityList{List: auths}); err != nil {
		return err
	}
	rest := pending[applied:]
	if len(rest) == 0 {
		x.del([]byte{pPending})
		return nil
	}
	return x.put([]byte{pPending}, &authorityList{List: rest})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// trackAbsence records, for each authority, since when its signature has
// been missing from the commits: the block's Signers are the consensus
// addresses that signed the previous block. It writes only when an
// authority goes missing or comes back, so that a chain where all sign
// keeps its app hash. A block without Signers (the first, or a caller that
// does not know them) changes nothing.
func (x *exec) trackAbsence(b Block) error {
	if len(b.Signers) == 0 {
		return nil
	}
	x.tx = map[string][]byte{}
	defer func() {
		for k, v := range x.tx {
			x.block[k] = v
		}
		x.tx = nil
	}()
	auths, err := x.authorities()
	if err != nil {
		return err
	}
	for _, a := range auths {
		signed := slices.ContainsFunc(b.Signers, func(s []byte) bool { return bytes.Equal(s, ConsensusAddress(a.Consensus)) })
		k := key(pAbsent, a.ID[:])
		was, err := x.has(k)
		if err != nil {
			return err
		}
		switch {
		case signed && was:
			x.del(k)
		case !signed && !was:
			if err := x.put(k, x.now); err != nil {
				return err
			}
		}
	}
	return nil
}

// absentSince returns since when an authority's signature has been missing
// from every commit, and whether it is.
func (x *exec) absentSince(id identity.ID) (int64, bool, error) {
	var since int64
	ok, err := x.get(key(pAbsent, id[:]), &since)
	return since, ok, err
}

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
	if changing(pending, v.Candidate) {
		return errorf(CodeInvalid, "a change for %s is already pending", v.Candidate)
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
	change := Change{ID: v.Candidate, Consensus: cand.Consensus}
	if v.Add {
		change.Power = x.params.AuthorityPower
	}
	x.emit(EventAuthorityChange, Attr{AttrID, v.Candidate.Hex()}, Attr{AttrAdd, boolText(v.Add)})
	return x.queue(change)
}

type voteTally struct {
	Voters []identity.ID `cbor:"1,keyasint"`
}

// Handover installs a cluster's new Cluster Head (the overlay elects it) in
// place of the old one. The new head, an authority-eligible member of the
// cluster, signs it; the old head attests it, or more than half of the
// current authorities do, or nobody, once the old head is absent (its
// signature missing from Params.HeadAbsentCommits consecutive commits over
// Params.HeadAbsentMs).
//
// A handover moves the cluster's validator seat, it never adds one: at the
// end of its block the new head takes the old head's place in the validator
// set, both in one validator update (which changes who holds a seat, not
// the power, so the limit of a third of the power per block does not delay
// it). If the old head holds no seat (a vote removed it), the new head gets
// none either; if the new head already holds one (a vote added it), the old
// head's goes. A cluster with a validator change pending takes no handover
// until the change is applied.
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

// HandoverStatement is what an attestation signs (context "handover/v1"):
// Cluster.HandoverTo makes it. Naming the cluster's term makes an
// attestation worthless once the handover, or any other, has happened.
type HandoverStatement struct {
	Cluster uint32      `cbor:"1,keyasint"`
	OldHead identity.ID `cbor:"2,keyasint"`
	NewHead identity.ID `cbor:"3,keyasint"`
	Term    uint64      `cbor:"4,keyasint,omitempty"` // the cluster's Term before the handover
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
	pending, err := x.pending()
	if err != nil {
		return err
	}
	if id, busy, err := x.clusterChanging(pending, h.Cluster); err != nil {
		return err
	} else if busy {
		return errorf(CodeInvalid, "cluster %d has a validator change for %s pending: it takes no handover until the change is applied", h.Cluster, id)
	}
	st := c.HandoverTo(h.NewHead)
	msg, err := codec.Marshal(&st)
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
		if changing(pending, a.Authority) {
			// Voted out, its removal waiting for a later block: its
			// word no longer counts.
			continue
		}
		n++
		if a.Authority == c.Head {
			byOld = true
		}
	}
	if !byOld && 2*n <= len(auths) {
		gone, why, err := x.headGone(auths, c.Head)
		if err != nil {
			return err
		}
		if !gone {
			return errorf(CodeUnauthorized, "handover attested by %d of %d authorities and not by the old head, and the old head is not absent: %s", n, len(auths), why)
		}
	}
	old := c.Head
	c.Head = h.NewHead
	c.Term++
	if err := x.put(key(pCluster, be32(h.Cluster)), &c); err != nil {
		return err
	}
	oi := findAuthority(auths, old)
	switch {
	case oi < 0:
		// The old head holds no seat, so the new one gets none: only
		// a vote adds to the validators.
	case findAuthority(auths, h.NewHead) >= 0:
		// A vote gave the new head a seat of its own: the old head's
		// goes (with the limit on power per block).
		if err := x.queue(Change{ID: old, Consensus: auths[oi].Consensus}); err != nil {
			return err
		}
	default:
		if err := consensusKeyFree(auths, pending, h.NewHead, head.Consensus); err != nil {
			return err
		}
		if err := x.queue(Change{ID: h.NewHead, Consensus: head.Consensus, Power: auths[oi].Power, Replaces: &auths[oi]}); err != nil {
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

// Change is a validator change that waits for the end of a block (query
// pending): a Vote's addition or removal (Power 0), which may wait longer
// under the limit on power per block, or a Handover's swap.
type Change struct {
	ID        identity.ID `cbor:"1,keyasint"`
	Consensus []byte      `cbor:"2,keyasint"`
	Power     int64       `cbor:"3,keyasint"` // 0 removes ID
	// Replaces is, for a handover, the authority whose seat ID takes:
	// both change in one validator update at the end of the block.
	Replaces *Authority `cbor:"4,keyasint,omitempty"`
}

type changeList struct {
	List []Change `cbor:"1,keyasint"`
}

func (x *exec) authorities() ([]Authority, error) {
	var l authorityList
	_, err := x.get([]byte{pAuthorities}, &l)
	return l.List, err
}

func (x *exec) pending() ([]Change, error) {
	var l changeList
	_, err := x.get([]byte{pPending}, &l)
	return l.List, err
}

// changing reports whether a pending change adds, removes or replaces id.
func changing(pending []Change, id identity.ID) bool {
	return slices.ContainsFunc(pending, func(p Change) bool {
		return p.ID == id || (p.Replaces != nil && p.Replaces.ID == id)
	})
}

// clusterChanging returns a member of cluster for which a validator change
// is pending, if there is one. Authorities never leave their cluster, so a
// change's cluster is its member's.
func (x *exec) clusterChanging(pending []Change, cluster uint32) (identity.ID, bool, error) {
	for _, p := range pending {
		var m Member
		ok, err := x.get(key(pMember, p.ID[:]), &m)
		if err != nil {
			return identity.ID{}, false, err
		}
		if ok && m.Cluster == cluster {
			return p.ID, true, nil
		}
	}
	return identity.ID{}, false, nil
}

// consensusKeyFree refuses to make id an authority with a consensus key
// that another current authority, or another pending addition, already has:
// CometBFT knows a validator only by its key, so two authorities sharing one
// would be one validator to it and two to the ledger.
func consensusKeyFree(auths []Authority, pending []Change, id identity.ID, consensus []byte) error {
	taken := func(other identity.ID, key []byte, power int64) error {
		if power > 0 && other != id && bytes.Equal(key, consensus) {
			return errorf(CodeDuplicate, "consensus key %x is already authority %s's", consensus[:min(len(consensus), 8)], other)
		}
		return nil
	}
	for _, a := range auths {
		if err := taken(a.ID, a.Consensus, a.Power); err != nil {
			return err
		}
	}
	for _, p := range pending {
		if err := taken(p.ID, p.Consensus, p.Power); err != nil {
			return err
		}
	}
	return nil
}

// remaining returns how many authorities are left once the pending
// removals are applied.
func remaining(auths []Authority, pending []Change) int {
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
func (x *exec) queue(c Change) error {
	p, err := x.pending()
	if err != nil {
		return err
	}
	return x.put([]byte{pPending}, &changeList{List: append(p, c)})
}

// endBlock applies pending validator changes. A handover's swap is applied
// whole, in the block of its handover: it changes who holds a seat, not the
// power. The votes' changes follow, additions first so that the set stays
// live, never changing more than a third of the voting power in one block
// (but always at least one change, so that a small set can still change);
// what is left waits for the next block.
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
	byID := func(a, b Authority) int { return bytes.Compare(a.ID[:], b.ID[:]) }
	var votes []Change
	for _, p := range pending {
		if p.Replaces == nil {
			votes = append(votes, p)
			continue
		}
		// A handover queues a swap only from a seat holder to one who
		// holds none, and the cluster takes no other change meanwhile;
		// should that ever not hold, the swap is dropped rather than
		// handed to CometBFT, which halts on the removal of an unknown
		// validator or a key updated twice.
		i := findAuthority(auths, p.Replaces.ID)
		if i < 0 || findAuthority(auths, p.ID) >= 0 || !bytes.Equal(auths[i].Consensus, p.Replaces.Consensus) {
			continue
		}
		old := auths[i]
		auths[i] = Authority{ID: p.ID, Consensus: p.Consensus, Power: p.Power, Joined: x.height}
		x.del(key(pAbsent, old.ID[:])) // no longer tracked
		x.updates = append(x.updates, ValidatorUpdate{PubKey: old.Consensus, Power: 0}, ValidatorUpdate{PubKey: p.Consensus, Power: p.Power})
	}
	slices.SortFunc(auths, byID)
	var total int64
	for _, a := range auths {
		total += a.Power
	}
	// Additions before removals, otherwise in queue order.
	slices.SortStableFunc(votes, func(a, b Change) int {
		return boolInt(b.Power > 0) - boolInt(a.Power > 0)
	})
	var changed int64
	applied, n := 0, 0 // changes taken from votes; of them, changes made
	for _, p := range votes {
		delta := p.Power
		i := findAuthority(auths, p.ID)
		if i >= 0 {
			delta -= auths[i].Power
		}
		if delta < 0 {
			delta = -delta
		}
		// A change that changes nothing (the removal of one who is no
		// longer an authority, an addition of one who already is) and the
		// removal of the last authority are dropped: CometBFT halts on an
		// update that removes an unknown validator, repeats a key, or
		// empties the set.
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
			auths = append(auths, Authority{ID: p.ID, Consensus: p.Consensus, Power: p.Power, Joined: x.height})
			slices.SortFunc(auths, byID)
		}
		x.updates = append(x.updates, ValidatorUpdate{PubKey: p.Consensus, Power: p.Power})
	}
	if err := x.put([]byte{pAuthorities}, &authorityList{List: auths}); err != nil {
		return err
	}
	rest := votes[applied:]
	if len(rest) == 0 {
		x.del([]byte{pPending})
		return nil
	}
	return x.put([]byte{pPending}, &changeList{List: rest})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Absence is how long an authority's signature has been missing from the
// decided commits (query absent/ID).
type Absence struct {
	// Since is the block time (Unix ms) of the first block whose commit
	// lacked it.
	Since int64 `cbor:"1,keyasint"`
	// Commits counts the consecutive commits that have lacked it, up to
	// Params.HeadAbsentCommits and no further: every block that writes
	// makes CometBFT make another, so a stopped authority costs the chain
	// at most that many blocks.
	Commits uint32 `cbor:"2,keyasint"`
}

// trackAbsence brings up to date, before the block's transactions run, the
// absence of each authority from the commit the block carries: its Signers
// are the consensus addresses that signed the previous block. It writes
// only when an authority goes missing, stays missing (up to
// HeadAbsentCommits) or comes back, so that a chain where all sign keeps
// its app hash. A block without Signers (the first, or a caller that does
// not know them) changes nothing, and an authority is not missing from a
// commit made before CometBFT had it sign.
func (x *exec) trackAbsence(b Block) error {
	x.signers = b.Signers
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
	limit := max(x.params.HeadAbsentCommits, 1)
	for _, a := range auths {
		if a.Joined > 0 && b.Height <= a.Joined+2 {
			continue
		}
		signed := slices.ContainsFunc(b.Signers, func(s []byte) bool { return bytes.Equal(s, ConsensusAddress(a.Consensus)) })
		k := key(pAbsent, a.ID[:])
		var ab Absence
		was, err := x.get(k, &ab)
		if err != nil {
			return err
		}
		switch {
		case signed && was:
			x.del(k)
		case !signed && !was:
			if err := x.put(k, &Absence{Since: x.now, Commits: 1}); err != nil {
				return err
			}
		case !signed && ab.Commits < limit:
			ab.Commits++
			if err := x.put(k, &ab); err != nil {
				return err
			}
		}
	}
	return nil
}

// headGone reports whether the authority id is absent: its signature is
// missing from the commit this block carries and from the
// HeadAbsentCommits consecutive ones before, the first of them at least
// HeadAbsentMs of block time ago; if not, it says why.
func (x *exec) headGone(auths []Authority, id identity.ID) (bool, string, error) {
	p := x.params
	switch {
	case p.HeadAbsentMs == 0:
		return false, "this chain does not count absence (HeadAbsentMs 0)", nil
	case findAuthority(auths, id) < 0:
		return false, "it is not an authority, whose absence the chain would count", nil
	case len(x.signers) == 0:
		return false, "this block does not say who signed the commit it carries", nil
	}
	var ab Absence
	ok, err := x.get(key(pAbsent, id[:]), &ab)
	switch {
	case err != nil:
		return false, "", err
	case !ok:
		return false, "it signed the latest commit", nil
	case ab.Commits < p.HeadAbsentCommits:
		return false, fmt.Sprintf("its signature is missing from %d consecutive commits of the %d required", ab.Commits, p.HeadAbsentCommits), nil
	case x.now-ab.Since < p.HeadAbsentMs:
		return false, fmt.Sprintf("its signature has been missing for %d ms of the %d required", x.now-ab.Since, p.HeadAbsentMs), nil
	}
	return true, "", nil
}

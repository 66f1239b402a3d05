package cloudapi

import (
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// The patient's audit trail. The cloud appends every access to a
// patient's data (AccessEntry) to its access log, a Merkle log whose
// checkpoints it anchors on the ledger like the records log's (log
// LogAccess there). A patient lists its entries (AccessListing) with an
// inclusion proof of each into a checkpoint of the access log, and the
// proof that this checkpoint extends the last one anchored; VerifyListing
// checks all of it, and each entry's signed request, on the patient's side.

// The cloud's logs, numbered as the cloud and the ledger number them.
const (
	LogRecords uint8 = 0
	LogAccess  uint8 = 1
)

// Bounds of an AccessListing.
const (
	MaxListingEntries = 256
	MaxListingSize    = 4 << 20
)

// ErrBadListing is a listing that does not decode or does not verify.
var ErrBadListing = errors.New("bad access listing")

// AccessListing answers POST /v1/access: a page of a patient's entries of
// the access log, in log order, from the request's From on.
type AccessListing struct {
	Entries []AccessEntry `cbor:"1,keyasint"`
	// Proofs[i] proves Entries[i] into Checkpoint.
	Proofs []merklelog.Proof `cbor:"2,keyasint"`
	// Checkpoint is the access log as the page was listed: it covers
	// every entry of the page (the listing's own entry included).
	Checkpoint merklelog.Checkpoint `cbor:"3,keyasint"`
	// Anchored is the access log's latest anchored checkpoint as the cloud
	// knows it (size 0: none yet), and Consistency the proof that it is a
	// prefix of Checkpoint.
	Anchored    merklelog.Checkpoint `cbor:"4,keyasint"`
	Consistency merklelog.Proof      `cbor:"5,keyasint"`
	// More says that entries beyond this page may follow: ask again from
	// Next.
	Next uint64 `cbor:"6,keyasint"`
	More bool   `cbor:"7,keyasint"`
}

// EraseResult answers POST /v1/erase.
type EraseResult struct {
	Erased uint64 `cbor:"1,keyasint"` // records whose ciphertexts were deleted now
	Entry  uint64 `cbor:"2,keyasint"` // the erasure's position in the access log
}

// Leaf returns the entry's leaf hash in the access log.
func (e *AccessEntry) Leaf() ([merklelog.HashSize]byte, error) {
	b, err := codec.Marshal(e)
	if err != nil {
		return [merklelog.HashSize]byte{}, err
	}
	return merklelog.HashLeaf(b), nil
}

// ParseAccessListing decodes a listing from untrusted bytes and checks
// its shape (a proof per entry, entries ascending within the checkpoint);
// VerifyListing checks the proofs.
func ParseAccessListing(b []byte) (*AccessListing, error) {
	var l AccessListing
	if err := codec.UnmarshalLimit(b, MaxListingSize, &l); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadListing, err)
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	return &l, nil
}

// check checks a listing's shape.
func (l *AccessListing) check() error {
	if len(l.Entries) > MaxListingEntries {
		return fmt.Errorf("%w: %d entries, at most %d", ErrBadListing, len(l.Entries), MaxListingEntries)
	}
	if len(l.Proofs) != len(l.Entries) {
		return fmt.Errorf("%w: %d proofs for %d entries", ErrBadListing, len(l.Proofs), len(l.Entries))
	}
	if l.Anchored.Size > l.Checkpoint.Size {
		return fmt.Errorf("%w: anchored size %d beyond the checkpoint's %d", ErrBadListing, l.Anchored.Size, l.Checkpoint.Size)
	}
	if len(l.Consistency) > merklelog.MaxProofLen {
		return fmt.Errorf("%w: a consistency proof of %d hashes", ErrBadListing, len(l.Consistency))
	}
	for i, e := range l.Entries {
		if len(l.Proofs[i]) > merklelog.MaxProofLen {
			return fmt.Errorf("%w: entry %d: a proof of %d hashes", ErrBadListing, e.Index, len(l.Proofs[i]))
		}
		if e.Index >= l.Checkpoint.Size || (i > 0 && e.Index <= l.Entries[i-1].Index) {
			return fmt.Errorf("%w: entry %d out of order or beyond the checkpoint (size %d)", ErrBadListing, e.Index, l.Checkpoint.Size)
		}
	}
	return nil
}

// ListingCheck is what VerifyListing checks a listing against.
type ListingCheck struct {
	Patient identity.ID // whose listing it is
	Cloud   identity.ID // the cloud that serves it
	// Anchor is the access log's checkpoint anchored on the ledger, as the
	// patient read it there (size 0: nothing anchored yet).
	Anchor merklelog.Checkpoint
	// AnchorProof proves that the smaller of Anchor and the listing's
	// Checkpoint is a prefix of the other. Nil: the listing's own
	// Consistency, which serves when its Anchored is Anchor.
	AnchorProof merklelog.Proof
	// Key returns a requester's verifying key, as the ledger registers it.
	Key func(identity.ID) (identity.VerifyingKey, error)
}

// VerifiedEntry is an entry VerifyListing checked.
type VerifiedEntry struct {
	AccessEntry
	// Anchored: the entry is within the anchored checkpoint (otherwise it
	// is in a checkpoint that extends it, not anchored yet).
	Anchored bool
	// Signed: the entry carries its requester's signed request, verified.
	// An entry without one (logged before the cloud kept requests) is
	// proven in the log but attributed by the cloud alone.
	Signed bool
}

// VerifyListing checks a listing for c.Patient: that each entry is the
// patient's and is in the access log at its position (its inclusion
// proof into the listing's checkpoint), that this checkpoint and the
// anchored one are consistent, and that each entry's request was signed
// by the entry's requester for this cloud, asks for what the entry says
// was done, and had not expired when it was logged. It fails on the first
// entry that does not verify.
//
// What it cannot show: that the cloud listed every entry of the patient
// (a listing is a filtered view of the log), nor that the cloud logged
// an access it chose not to log. An entry once anchored cannot be removed
// or changed.
func VerifyListing(l *AccessListing, c ListingCheck) ([]VerifiedEntry, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	cp := l.Checkpoint
	switch a := c.Anchor; {
	case a.Size == 0:
	case a.Size == cp.Size:
		if a != cp {
			return nil, fmt.Errorf("%w: the listing's checkpoint of size %d is not the anchored one", ErrBadListing, a.Size)
		}
	case a.Size < cp.Size:
		p := c.AnchorProof
		if p == nil {
			if l.Anchored != a {
				return nil, fmt.Errorf("%w: the listing proves consistency with size %d, not with the anchor (size %d)", ErrBadListing, l.Anchored.Size, a.Size)
			}
			p = l.Consistency
		}
		if err := merklelog.VerifyConsistency(a, cp, p); err != nil {
			return nil, fmt.Errorf("%w: the listing's checkpoint does not extend the anchored one: %w", ErrBadListing, err)
		}
	default:
		if err := merklelog.VerifyConsistency(cp, a, c.AnchorProof); err != nil {
			return nil, fmt.Errorf("%w: the anchored checkpoint does not extend the listing's: %w", ErrBadListing, err)
		}
	}
	out := make([]VerifiedEntry, len(l.Entries))
	for i := range l.Entries {
		e := &l.Entries[i]
		if e.Patient != c.Patient {
			return nil, fmt.Errorf("%w: entry %d is of patient %s", ErrBadListing, e.Index, e.Patient)
		}
		leaf, err := e.Leaf()
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadListing, e.Index, err)
		}
		if err := merklelog.VerifyInclusionHash(leaf, e.Index, cp, l.Proofs[i]); err != nil {
			return nil, fmt.Errorf("%w: entry %d is not in the access log: %w", ErrBadListing, e.Index, err)
		}
		out[i] = VerifiedEntry{AccessEntry: *e, Anchored: e.Index < c.Anchor.Size}
		if e.Request == nil {
			continue
		}
		if err := checkEntryRequest(e, c); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadListing, e.Index, err)
		}
		out[i].Signed = true
	}
	return out, nil
}

// entryOps are the request operations that each kind of entry records.
var entryOps = map[string]string{
	"":          OpRead,
	AccessRead:  OpRead,
	AccessAlert: OpAlerts,
	AccessList:  OpAccess,
	AccessErase: OpErase,
}

// checkEntryRequest checks an entry's signed request.
func checkEntryRequest(e *AccessEntry, c ListingCheck) error {
	r, err := ParseRequest(e.Request)
	if err != nil {
		return err
	}
	stateEntry := e.Op == AccessState || e.Op == AccessHeartbeat
	if stateEntry {
		if err := checkStateEntry(e, r); err != nil {
			return err
		}
	}
	switch {
	case r.Requester != e.Requester:
		return fmt.Errorf("the request is %s's, the entry names %s", r.Requester, e.Requester)
	case r.Cloud != c.Cloud:
		return fmt.Errorf("the request is meant for cloud %s", r.Cloud)
	case !stateEntry && entryOps[e.Op] != r.Op:
		return fmt.Errorf("a %q request logged as %q", r.Op, e.Op)
	case r.Op == OpRead && r.Record != e.Record:
		return fmt.Errorf("the request reads %x, the entry names %x", r.Record[:8], e.Record[:8])
	case (r.Op == OpAccess || r.Op == OpErase) && r.Requester != e.Patient:
		return fmt.Errorf("a %q request by %s logged for patient %s", r.Op, r.Requester, e.Patient)
	case e.Time > r.Expires:
		return fmt.Errorf("logged at %d, after the request expired (%d)", e.Time, r.Expires)
	}
	if c.Key == nil {
		return errors.New("no key lookup to check the request's signature")
	}
	k, err := c.Key(r.Requester)
	if err != nil {
		return fmt.Errorf("the requester's key: %w", err)
	}
	if k.ID() != r.Requester {
		return fmt.Errorf("the key given for %s is %s's", r.Requester, k.ID())
	}
	msg, err := r.SignedBytes()
	if err != nil {
		return err
	}
	if err := k.VerifyContext(RequestContext, msg, r.Sig); err != nil {
		return fmt.Errorf("the request's signature: %w", err)
	}
	return nil
}

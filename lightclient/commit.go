package lightclient

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/bits"

	"github.com/hdevalence/ed25519consensus"
)

// Fraction is a trust level: Numerator/Denominator of a validator set's
// voting power.
type Fraction struct {
	Numerator, Denominator uint64
}

// DefaultTrustLevel is CometBFT's: 1/3, the least power that must include
// one honest validator if fewer than 1/3 are faulty.
var DefaultTrustLevel = Fraction{1, 3}

func (f Fraction) String() string { return fmt.Sprintf("%d/%d", f.Numerator, f.Denominator) }

// belowThird reports whether f < 1/3.
func (f Fraction) belowThird() bool {
	hi, lo := bits.Mul64(f.Numerator, 3)
	return hi == 0 && lo < f.Denominator
}

// of returns floor(total × f), exactly; f must be at most 1.
func (f Fraction) of(total int64) int64 {
	hi, lo := bits.Mul64(uint64(total), f.Numerator)
	q, _ := bits.Div64(hi, lo, f.Denominator) // hi < Denominator as f ≤ 1
	return int64(q)
}

// verifySig is CometBFT's Ed25519 verification: ZIP 215's rules (those of
// ed25519consensus and of CometBFT's curve25519-voi options), on a
// 64-byte signature.
func verifySig(pub ed25519.PublicKey, msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519consensus.Verify(pub, msg, sig)
}

// tally counts the voting power of a commit's FlagCommit entries until it
// exceeds needed, as CometBFT's light client does: each counted entry must
// be well formed, name its validator, and carry a valid signature; entries
// after the threshold are not looked at. validator maps an entry's index
// to its validator's index in vals, or -1 for one outside the set (not
// counted).
//
// CometBFT verifies the signatures of a commit of two entries or more as a
// batch, once it has counted enough power (a signature of the wrong length
// fails as it is added); one of a single entry, as it goes. So do we, so
// that the same forgery gives the same error (ErrNotEnoughPower before
// ErrSignature); either way the verdict is the same. The batch draws its
// random coefficients from crypto/rand, as CometBFT's does; the verdict
// does not depend on them.
func tally(chainID string, vals *ValidatorSet, c *Commit, needed int64, validator func(i int, cs *CommitSig) (int, error)) (bool, int64, error) {
	batch := len(c.Signatures) >= 2
	var (
		tallied int64
		pending [][2]int // entry, validator: signatures counted, to verify
	)
	verify := func(i, j int) error {
		v := &vals.vals[j]
		if !verifySig(v.PubKey, c.VoteSignBytes(chainID, i), c.Signatures[i].Signature) {
			return fmt.Errorf("%w: %w: signature %d, by %X", ErrInvalidCommit, ErrSignature, i, v.Address)
		}
		return nil
	}
	for i := range c.Signatures {
		cs := &c.Signatures[i]
		if cs.Flag != FlagCommit {
			continue // nil and absent votes count for nothing, and are not checked
		}
		if err := cs.validateBasic(); err != nil {
			return false, tallied, fmt.Errorf("%w: signature %d: %v", ErrInvalidCommit, i, err)
		}
		j, err := validator(i, cs)
		if err != nil {
			return false, tallied, err
		}
		if j < 0 {
			continue
		}
		switch {
		case !batch:
			if err := verify(i, j); err != nil {
				return false, tallied, err
			}
		case len(cs.Signature) != ed25519.SignatureSize:
			return false, tallied, fmt.Errorf("%w: %w: signature %d of %d bytes", ErrInvalidCommit, ErrSignature, i, len(cs.Signature))
		default:
			pending = append(pending, [2]int{i, j})
		}
		tallied += vals.vals[j].VotingPower
		if tallied > needed {
			break
		}
	}
	if tallied <= needed {
		return false, tallied, nil
	}
	if len(pending) > 1 {
		// A batch is about 3 times faster; ed25519consensus's batch and
		// single verification accept the same signatures (ZIP 215).
		bv := ed25519consensus.NewPreallocatedBatchVerifier(len(pending))
		for _, p := range pending {
			bv.Add(vals.vals[p[1]].PubKey, c.VoteSignBytes(chainID, p[0]), c.Signatures[p[0]].Signature)
		}
		if bv.Verify() {
			return true, tallied, nil
		}
	}
	// One by one: the first bad signature is the error.
	for _, p := range pending {
		if err := verify(p[0], p[1]); err != nil {
			return false, tallied, err
		}
	}
	if len(pending) > 1 {
		return false, tallied, fmt.Errorf("%w: %w: the batch fails, each signature verifies", ErrInvalidCommit, ErrSignature)
	}
	return true, tallied, nil
}

// VerifyCommitLight checks that more than 2/3 of vals' voting power signed
// commit c for block id at height, CometBFT's VerifyCommitLight: c has one
// entry per validator, in the set's order; only precommits for the block
// count; it stops at the first signature that crosses 2/3.
func VerifyCommitLight(chainID string, vals *ValidatorSet, id BlockID, height int64, c *Commit) error {
	if vals == nil {
		return fmt.Errorf("%w: none", ErrInvalidValidators)
	}
	if c == nil {
		return fmt.Errorf("%w: none", ErrInvalidCommit)
	}
	if len(c.Signatures) != vals.Size() {
		return fmt.Errorf("%w: %d signatures for %d validators", ErrInvalidCommit, len(c.Signatures), vals.Size())
	}
	if c.Height != height {
		return fmt.Errorf("%w: commit of height %d, want %d", ErrInvalidCommit, c.Height, height)
	}
	if !c.BlockID.Equal(id) {
		return fmt.Errorf("%w: commit for block %X, want %X", ErrInvalidCommit, c.BlockID.Hash, id.Hash)
	}
	needed := vals.total * 2 / 3
	ok, got, err := tally(chainID, vals, c, needed, func(i int, cs *CommitSig) (int, error) {
		if !bytes.Equal(vals.vals[i].Address, cs.ValidatorAddress) {
			return 0, fmt.Errorf("%w: signature %d by %X, where the set has %X", ErrInvalidCommit, i, cs.ValidatorAddress, vals.vals[i].Address)
		}
		return i, nil
	})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %d of %d, need more than %d", ErrNotEnoughPower, got, vals.total, needed)
	}
	return nil
}

// VerifyCommitLightTrusting checks that more than level of vals' voting
// power signed commit c, CometBFT's VerifyCommitLightTrusting: vals need
// not be the set that made c (entries are matched by address; one outside
// vals counts for nothing), a validator that signs twice fails the commit,
// and it stops at the first signature that crosses the level. level must
// be at most 1. Too little power is ErrNotEnoughTrust.
func VerifyCommitLightTrusting(chainID string, vals *ValidatorSet, c *Commit, level Fraction) error {
	if vals == nil {
		return fmt.Errorf("%w: none", ErrInvalidValidators)
	}
	if c == nil {
		return fmt.Errorf("%w: none", ErrInvalidCommit)
	}
	if level.Denominator == 0 || level.Numerator > level.Denominator {
		return fmt.Errorf("%w: trust level %v", ErrOptions, level)
	}
	needed := level.of(vals.total)
	seen := make(map[int]int, len(c.Signatures))
	ok, got, err := tally(chainID, vals, c, needed, func(i int, cs *CommitSig) (int, error) {
		j := vals.byAddress(cs.ValidatorAddress)
		if j < 0 {
			return -1, nil
		}
		if first, twice := seen[j]; twice {
			return 0, fmt.Errorf("%w: validator %X signs twice (%d and %d)", ErrInvalidCommit, cs.ValidatorAddress, first, i)
		}
		seen[j] = i
		return j, nil
	})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %d of %d, need more than %d (%v)", ErrNotEnoughTrust, got, vals.total, needed, level)
	}
	return nil
}

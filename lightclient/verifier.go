package lightclient

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Recent is how many verified headers a Verifier keeps in memory, so that
// a header it moved past (an answer at a height another one overtook)
// still checks.
const Recent = 32

// Verifier is a light client's trust, moving forward: it holds a Trusted
// state and the last Recent headers it verified. It does no I/O and reads
// no clock: the caller fetches headers and validators and says what time
// it is. It is safe for concurrent use.
type Verifier struct {
	o      Options
	mu     sync.Mutex
	t      *Trusted
	recent []*Header // verified, by height ascending
}

// New returns a Verifier that trusts t, with options o.
func New(t *Trusted, o Options) (*Verifier, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return &Verifier{o: o, t: t}, nil
}

// Trusted returns the trusted state (to persist it: Trusted.MarshalBinary).
// It is the Verifier's own: read it, do not modify it.
func (v *Verifier) Trusted() *Trusted {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t
}

// Header returns the verified header at height, if it is among the last
// Recent ones verified.
func (v *Verifier) Header(height int64) (*Header, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	h, ok := v.find(height)
	if !ok {
		return nil, false
	}
	return cloneHeader(h), true
}

func (v *Verifier) find(height int64) (*Header, bool) {
	for _, h := range v.recent {
		if h.Height == height {
			return h, true
		}
	}
	return nil, false
}

// remember keeps h among the recent headers.
func (v *Verifier) remember(h *Header) {
	i := len(v.recent)
	for i > 0 && v.recent[i-1].Height > h.Height {
		i--
	}
	v.recent = append(v.recent, nil)
	copy(v.recent[i+1:], v.recent[i:])
	v.recent[i] = h
	if len(v.recent) > Recent {
		v.recent = v.recent[len(v.recent)-Recent:]
	}
}

// Verify checks sh against the trust at time now. A header after the
// trusted one is verified with vals, its validators (Trusted.Next), and
// becomes the trusted one. A header at or below the trusted height needs
// no validators: it checks if it is one verified before, or the parent of
// one (its hash is that one's LastBlockID: CometBFT's VerifyBackwards),
// and fails with ErrConflict if it is another at a verified height, or
// ErrOldHeader if the Verifier cannot tell. On success, sh.Header is the
// chain's; its AppHash commits the state after block Height-1.
func (v *Verifier) Verify(now time.Time, sh *SignedHeader, vals *ValidatorSet) error {
	if sh == nil || sh.Header == nil {
		return fmt.Errorf("%w: missing header", ErrInvalidHeader)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	h := sh.Header
	if h.Height <= v.t.Height {
		return v.verifyOld(sh)
	}
	t, err := v.t.Next(now, sh, vals, v.o)
	if err != nil {
		return err
	}
	v.t = t
	v.remember(cloneHeader(h))
	return nil
}

// verifyOld checks a header at or below the trusted height against the
// recent ones.
func (v *Verifier) verifyOld(sh *SignedHeader) error {
	h := sh.Header
	hash := h.Hash()
	if known, ok := v.find(h.Height); ok {
		if !bytes.Equal(known.Hash(), hash) {
			return fmt.Errorf("%w: header %d is %X, verified %X", ErrConflict, h.Height, hash, known.Hash())
		}
		return nil
	}
	if h.Height == v.t.Height && !v.t.genesis() {
		if !bytes.Equal(v.t.Hash, hash) {
			return fmt.Errorf("%w: header %d is %X, trusted %X", ErrConflict, h.Height, hash, v.t.Hash)
		}
		return nil
	}
	child, ok := v.find(h.Height + 1)
	if !ok {
		return fmt.Errorf("%w: header %d, trusted %d, and no verified header %d to check it against",
			ErrOldHeader, h.Height, v.t.Height, h.Height+1)
	}
	if err := h.ValidateBasic(); err != nil {
		return err
	}
	if h.ChainID != v.t.ChainID {
		return fmt.Errorf("%w: %q, not %q", ErrChainID, h.ChainID, v.t.ChainID)
	}
	if !bytes.Equal(child.LastBlockID.Hash, hash) {
		return fmt.Errorf("%w: header %d is %X, verified header %d follows %X", ErrConflict, h.Height, hash, child.Height, child.LastBlockID.Hash)
	}
	if !h.Time.Before(child.Time) {
		return fmt.Errorf("%w: header %d of %v is not before its verified successor's %v", ErrInvalidHeader, h.Height, h.Time, child.Time)
	}
	v.remember(cloneHeader(h))
	return nil
}

// Fetch returns the signed header and the validators at a height, from
// wherever the caller gets them (a node's /commit and /validators).
type Fetch func(height int64) (*SignedHeader, *ValidatorSet, error)

// maxBisections bounds how many headers VerifyTo fetches in between:
// each pivot takes 9/16 of the distance left, so 64 cover any chain.
const maxBisections = 64

// VerifyTo verifies the header at height, fetching what it needs with
// fetch, and returns it. Where skipping from the trusted header fails with
// ErrNotEnoughTrust (the validators changed too much in between), it
// verifies a header in between first, as CometBFT's light client does
// (verifySkipping: a pivot 9/16 of the way, and after each success it
// tries the farthest again), so it fetches the same heights. Errors of
// fetch are returned wrapped.
func (v *Verifier) VerifyTo(now time.Time, height int64, fetch Fetch) (*SignedHeader, error) {
	type block struct {
		sh   *SignedHeader
		vals *ValidatorSet
	}
	get := func(h int64) (block, error) {
		sh, vals, err := fetch(h)
		if err != nil {
			return block{}, fmt.Errorf("fetch %d: %w", h, err)
		}
		if sh == nil || sh.Header == nil || sh.Header.Height != h {
			return block{}, fmt.Errorf("%w: asked for header %d, got another", ErrInvalidHeader, h)
		}
		return block{sh, vals}, nil
	}
	target, err := get(height)
	if err != nil {
		return nil, err
	}
	cache := []block{target} // the target first, then ever nearer pivots
	for depth, fetched := 0, 0; ; {
		err := v.Verify(now, cache[depth].sh, cache[depth].vals)
		switch {
		case err == nil || depth > 0 && errors.Is(err, ErrOldHeader):
			// Verified (or moved past by another caller): try farther.
			if depth == 0 {
				if err != nil {
					return nil, err
				}
				return target.sh, nil
			}
			cache, depth = cache[:depth], 0
			continue
		case !errors.Is(err, ErrNotEnoughTrust):
			return nil, err
		}
		if depth == len(cache)-1 {
			from := v.Trusted().Height
			pivot := from + (cache[depth].sh.Header.Height-from)*9/16
			if pivot <= from || fetched == maxBisections {
				return nil, fmt.Errorf("verify %d from %d: %w", height, from, err)
			}
			b, err := get(pivot)
			if err != nil {
				return nil, err
			}
			fetched++
			cache = append(cache, b)
		}
		depth++
	}
}

func cloneHeader(h *Header) *Header {
	c := *h
	c.LastBlockID.Hash = bytes.Clone(h.LastBlockID.Hash)
	c.LastBlockID.PartSetHeader.Hash = bytes.Clone(h.LastBlockID.PartSetHeader.Hash)
	for _, p := range []*[]byte{&c.LastCommitHash, &c.DataHash, &c.ValidatorsHash, &c.NextValidatorsHash,
		&c.ConsensusHash, &c.AppHash, &c.LastResultsHash, &c.EvidenceHash, &c.ProposerAddress} {
		*p = bytes.Clone(*p)
	}
	return &c
}

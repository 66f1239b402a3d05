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
	return v.find(height)
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

// maxBisections bounds VerifyTo's depth: each halves the distance left.
const maxBisections = 64

// VerifyTo verifies the header at height, fetching what it needs with
// fetch, and returns it. Where skipping from the trusted header to a
// target fails with ErrNotEnoughTrust (the validators changed too much in
// between), it verifies the header halfway first, as CometBFT's light
// client bisects. Errors of fetch are returned wrapped.
func (v *Verifier) VerifyTo(now time.Time, height int64, fetch Fetch) (*SignedHeader, error) {
	sh, vals, err := fetch(height)
	if err != nil {
		return nil, fmt.Errorf("fetch %d: %w", height, err)
	}
	if sh == nil || sh.Header == nil || sh.Header.Height != height {
		return nil, fmt.Errorf("%w: asked for header %d, got another", ErrInvalidHeader, height)
	}
	type block struct {
		sh   *SignedHeader
		vals *ValidatorSet
	}
	stack := []block{{sh, vals}}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		err := v.Verify(now, top.sh, top.vals)
		switch {
		case err == nil:
			stack = stack[:len(stack)-1]
			continue
		case len(stack) > 1 && errors.Is(err, ErrOldHeader):
			stack = stack[:len(stack)-1] // another caller moved past this pivot
			continue
		case !errors.Is(err, ErrNotEnoughTrust):
			return nil, err
		}
		if len(stack) > maxBisections {
			return nil, fmt.Errorf("verify %d: %d bisections: %w", height, maxBisections, err)
		}
		from := v.Trusted().Height
		pivot := from + (top.sh.Header.Height-from)/2
		if pivot <= from {
			return nil, err // adjacent: cannot happen, as adjacent verification measures no trust
		}
		psh, pvals, ferr := fetch(pivot)
		if ferr != nil {
			return nil, fmt.Errorf("fetch %d: %w", pivot, ferr)
		}
		if psh == nil || psh.Header == nil || psh.Header.Height != pivot {
			return nil, fmt.Errorf("%w: asked for header %d, got another", ErrInvalidHeader, pivot)
		}
		stack = append(stack, block{psh, pvals})
	}
	return sh, nil
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

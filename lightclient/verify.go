package lightclient

import (
	"bytes"
	"fmt"
	"time"
)

// Defaults of Options.
const (
	// DefaultTrustingPeriod: how long a verified header vouches for its
	// validators. On a chain of authorities there is no unbonding period
	// to stay under; the period is how long an authority set that has since
	// been replaced (a key retired, or stolen) can still fool a client
	// that has not moved forward. A gateway verifies a fresh header with
	// every answer it checks, so only one switched off for longer must
	// root its trust again.
	DefaultTrustingPeriod = 7 * 24 * time.Hour
	// DefaultMaxClockDrift is CometBFT's: how far ahead of now a header's
	// time may be.
	DefaultMaxClockDrift = 10 * time.Second
)

// Options are the light client's parameters. The zero value means the
// defaults.
type Options struct {
	TrustingPeriod time.Duration // 0: DefaultTrustingPeriod
	MaxClockDrift  time.Duration // 0: DefaultMaxClockDrift
	TrustLevel     Fraction      // zero: DefaultTrustLevel; within [1/3, 1]
}

// withDefaults fills in the defaults and checks the ranges.
func (o Options) withDefaults() (Options, error) {
	if o.TrustingPeriod == 0 {
		o.TrustingPeriod = DefaultTrustingPeriod
	}
	if o.MaxClockDrift == 0 {
		o.MaxClockDrift = DefaultMaxClockDrift
	}
	if o.TrustLevel == (Fraction{}) {
		o.TrustLevel = DefaultTrustLevel
	}
	switch l := o.TrustLevel; {
	case o.TrustingPeriod < 0:
		return o, fmt.Errorf("%w: trusting period %v", ErrOptions, o.TrustingPeriod)
	case o.MaxClockDrift < 0:
		return o, fmt.Errorf("%w: max clock drift %v", ErrOptions, o.MaxClockDrift)
	case l.Denominator == 0 || l.Numerator > l.Denominator || l.belowThird():
		return o, fmt.Errorf("%w: trust level %v, not within [1/3, 1]", ErrOptions, l)
	}
	return o, nil
}

// Trusted is what a light client trusts: the last header it verified (or
// a genesis), and the validators that vouch for what comes next. It is a
// value: Next returns a new one.
type Trusted struct {
	ChainID string
	Height  int64     // of the trusted header; InitialHeight-1 for a genesis
	Hash    []byte    // the trusted header's hash; empty for a genesis
	Time    time.Time // the trusted header's time; the genesis time
	// NextValidatorsHash is the ValidatorsHash the header at Height+1
	// must carry.
	NextValidatorsHash []byte
	// Validators are those whose power skipping verification measures
	// (more than the trust level of it must sign a later header): the
	// trusted header's own (CometBFT's light client measures against
	// these), or a genesis's.
	Validators *ValidatorSet
}

// genesis reports whether t is a genesis rather than a header.
func (t *Trusted) genesis() bool { return len(t.Hash) == 0 }

// check checks that t is well formed.
func (t *Trusted) check() error {
	switch {
	case t == nil:
		return fmt.Errorf("%w: no trusted state", ErrMalformed)
	case t.Validators == nil:
		return fmt.Errorf("%w: trusted state without validators", ErrMalformed)
	case t.Height < 0 || !t.genesis() && t.Height == 0:
		return fmt.Errorf("%w: trusted height %d", ErrMalformed, t.Height)
	case len(t.Hash) != 0 && len(t.Hash) != HashSize:
		return fmt.Errorf("%w: trusted hash of %d bytes", ErrMalformed, len(t.Hash))
	case len(t.NextValidatorsHash) > HashSize:
		return fmt.Errorf("%w: next validators hash of %d bytes", ErrMalformed, len(t.NextValidatorsHash))
	case len(t.ChainID) > MaxChainIDLen:
		return fmt.Errorf("%w: chain ID of %d bytes", ErrMalformed, len(t.ChainID))
	case !validTimestamp(t.Time):
		return fmt.Errorf("%w: trusted time %v", ErrMalformed, t.Time)
	}
	return nil
}

// Expired reports whether t can no longer vouch for anything at now:
// its time plus the trusting period is not after now (CometBFT's
// HeaderExpired).
func (t *Trusted) Expired(now time.Time, trustingPeriod time.Duration) bool {
	return !t.Time.Add(trustingPeriod).After(now)
}

// Next verifies sh, a header after t's, with vals, its validators, at
// time now, and returns the new trusted state: sh's. It is CometBFT's
// light.Verify: for the next height (VerifyAdjacent), sh's validators
// must be those t names next and more than 2/3 of them must have signed;
// for a later height (VerifyNonAdjacent, skipping), more than the trust
// level of t's validators must have signed it too (if not: ErrNotEnoughTrust, and
// a header in between must be verified first). In both, t must not have
// expired, sh must be of t's chain, pass the basic checks, be later in
// height and time than t and not beyond now plus the clock drift, and
// vals must be the set sh names.
func (t *Trusted) Next(now time.Time, sh *SignedHeader, vals *ValidatorSet, o Options) (*Trusted, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.Expired(now, o.TrustingPeriod) {
		return nil, fmt.Errorf("%w: trusted header %d of %v expired at %v (now %v)",
			ErrExpired, t.Height, t.Time, t.Time.Add(o.TrustingPeriod), now)
	}
	if err := t.checkNew(now, sh, vals, o.MaxClockDrift); err != nil {
		return nil, err
	}
	h, c := sh.Header, sh.Commit
	if h.Height == t.Height+1 {
		if !bytes.Equal(h.ValidatorsHash, t.NextValidatorsHash) {
			return nil, fmt.Errorf("%w: header %d names validators %X, the trusted header %d named %X next",
				ErrValidatorsHash, h.Height, h.ValidatorsHash, t.Height, t.NextValidatorsHash)
		}
	} else if err := VerifyCommitLightTrusting(t.ChainID, t.Validators, c, o.TrustLevel); err != nil {
		return nil, fmt.Errorf("header %d from trusted %d: %w", h.Height, t.Height, err)
	}
	// Last: a skipping client cannot bound the size of vals before this.
	if err := VerifyCommitLight(t.ChainID, vals, c.BlockID, h.Height, c); err != nil {
		return nil, fmt.Errorf("header %d: %w", h.Height, err)
	}
	return &Trusted{
		ChainID:            t.ChainID,
		Height:             h.Height,
		Hash:               bytes.Clone(c.BlockID.Hash), // the header's hash (ValidateBasic)
		Time:               h.Time,
		NextValidatorsHash: bytes.Clone(h.NextValidatorsHash),
		Validators:         vals,
	}, nil
}

// checkNew is CometBFT's verifyNewHeaderAndVals. A genesis's first block
// carries the genesis time: it may equal t's, where a header's successor
// must be strictly later.
func (t *Trusted) checkNew(now time.Time, sh *SignedHeader, vals *ValidatorSet, maxClockDrift time.Duration) error {
	if err := sh.ValidateBasic(t.ChainID); err != nil {
		return err
	}
	if vals == nil {
		return fmt.Errorf("%w: none", ErrInvalidValidators)
	}
	h := sh.Header
	if h.Height <= t.Height {
		return fmt.Errorf("%w: height %d, trusted %d", ErrOldHeader, h.Height, t.Height)
	}
	if h.Time.Before(t.Time) || !t.genesis() && !h.Time.After(t.Time) {
		return fmt.Errorf("%w: header %d of %v, trusted %d of %v", ErrOldHeader, h.Height, h.Time, t.Height, t.Time)
	}
	if !h.Time.Before(now.Add(maxClockDrift)) {
		return fmt.Errorf("%w: header %d of %v (now %v, max clock drift %v)", ErrFromFuture, h.Height, h.Time, now, maxClockDrift)
	}
	if vh := vals.Hash(); !bytes.Equal(h.ValidatorsHash, vh) {
		return fmt.Errorf("%w: header %d names validators %X, the set given hashes to %X", ErrValidatorsHash, h.Height, h.ValidatorsHash, vh)
	}
	return nil
}

// TrustHeader roots trust in a header known out of band by its height and
// hash (CometBFT's TrustOptions): sh must be that header, pass the basic
// checks, and be signed by more than 2/3 of vals, its validators.
func TrustHeader(chainID string, height int64, hash []byte, sh *SignedHeader, vals *ValidatorSet) (*Trusted, error) {
	if err := sh.ValidateBasic(chainID); err != nil {
		return nil, err
	}
	h, hh := sh.Header, sh.Commit.BlockID.Hash // the header's hash (ValidateBasic)
	if h.Height != height || !bytes.Equal(hh, hash) {
		return nil, fmt.Errorf("%w: header %d is %X, want header %d, %X", ErrConflict, h.Height, hh, height, hash)
	}
	if vals == nil {
		return nil, fmt.Errorf("%w: none", ErrInvalidValidators)
	}
	if vh := vals.Hash(); !bytes.Equal(h.ValidatorsHash, vh) {
		return nil, fmt.Errorf("%w: header %d names validators %X, the set given hashes to %X", ErrValidatorsHash, h.Height, h.ValidatorsHash, vh)
	}
	if err := VerifyCommitLight(chainID, vals, sh.Commit.BlockID, h.Height, sh.Commit); err != nil {
		return nil, fmt.Errorf("header %d: %w", h.Height, err)
	}
	return &Trusted{
		ChainID:            chainID,
		Height:             h.Height,
		Hash:               bytes.Clone(hh),
		Time:               h.Time,
		NextValidatorsHash: bytes.Clone(h.NextValidatorsHash),
		Validators:         vals,
	}, nil
}

// Genesis is what a light client needs of a chain's genesis to root its
// trust there.
type Genesis struct {
	ChainID       string
	InitialHeight int64 // 1 unless the chain says otherwise
	Time          time.Time
	Validators    *ValidatorSet
}

// TrustGenesis roots trust in a genesis: the first block must be signed by
// its validators, and a later one by more than the trust level of them
// (and 2/3 of its own). This is for a young chain, such as the demo's: a
// genesis expires like any header, one trusting period after its time
// (the validators of the genesis file are those of the first block only if
// the application's InitChain leaves them so; if not, the first Next
// fails with ErrValidatorsHash).
func TrustGenesis(g *Genesis) (*Trusted, error) {
	if g == nil || g.Validators == nil {
		return nil, fmt.Errorf("%w: genesis without validators", ErrInvalidValidators)
	}
	ih := g.InitialHeight
	if ih == 0 {
		ih = 1
	}
	if ih < 1 {
		return nil, fmt.Errorf("%w: initial height %d", ErrMalformed, ih)
	}
	t := &Trusted{
		ChainID:            g.ChainID,
		Height:             ih - 1,
		Time:               g.Time,
		NextValidatorsHash: g.Validators.Hash(),
		Validators:         g.Validators,
	}
	return t, t.check()
}

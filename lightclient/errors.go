package lightclient

import "errors"

// Errors of the package. Every error it returns wraps one of them (some
// wrap two: a bad signature is ErrInvalidCommit and ErrSignature), with the
// detail in its message; check them with errors.Is.
var (
	// ErrMalformed: bytes that do not decode (not JSON, a missing or
	// ill-typed field, a wrong length, over a size bound), a JSON-RPC
	// error answer, or a persisted state that is not one.
	ErrMalformed = errors.New("malformed")
	// ErrUnsupportedKey: a validator key that is not Ed25519.
	ErrUnsupportedKey = errors.New("unsupported validator key type")
	// ErrInvalidHeader: a signed header that fails CometBFT's basic
	// checks (version, field lengths, a commit for another height or
	// block), or whose validator set does not hash to its ValidatorsHash.
	ErrInvalidHeader = errors.New("invalid header")
	// ErrInvalidValidators: a validator set that is empty, too large,
	// holds a validator twice or one whose address is not its key's, or
	// whose power overflows.
	ErrInvalidValidators = errors.New("invalid validator set")
	// ErrChainID: a header of another chain.
	ErrChainID = errors.New("header of another chain")
	// ErrOldHeader: a header that does not move forward from the trusted
	// one (height or time not after it) and that this Verifier cannot
	// check against a header it verified before.
	ErrOldHeader = errors.New("header not after the trusted one")
	// ErrFromFuture: a header whose time is beyond now plus the allowed
	// clock drift.
	ErrFromFuture = errors.New("header from the future")
	// ErrExpired: the trusted header is older than the trusting period: it
	// can no longer vouch for anything, and trust must be rooted again.
	ErrExpired = errors.New("trusted header expired")
	// ErrValidatorsHash: a validator set that is not the one the header
	// (or, for the next height, the trusted header) commits to.
	ErrValidatorsHash = errors.New("validator set does not match the header")
	// ErrInvalidCommit: a commit whose shape does not fit its validator
	// set or header (a count, a height, a block ID, an address out of
	// place, a validator signing twice) or that carries a bad signature.
	ErrInvalidCommit = errors.New("invalid commit")
	// ErrSignature: a signature that does not verify (wrapped with
	// ErrInvalidCommit).
	ErrSignature = errors.New("bad signature")
	// ErrNotEnoughPower: the validators that signed the block hold no more
	// than 2/3 of the set's voting power.
	ErrNotEnoughPower = errors.New("not enough voting power signed")
	// ErrNotEnoughTrust: skipping verification could not tie the new
	// header to the trusted validators (no more than the trust level of
	// their power signed it). The header may well be valid: verify one in
	// between first (bisection; see Verifier.VerifyTo).
	ErrNotEnoughTrust = errors.New("not enough trusted voting power signed")
	// ErrConflict: a header at a height already verified that is not the
	// one verified: a lying node, or, if its commit verifies, a fork.
	ErrConflict = errors.New("header conflicts with a verified one")
	// ErrOptions: options out of range (a trust level outside [1/3, 1], a
	// non-positive trusting period).
	ErrOptions = errors.New("invalid options")
)

package lightclient

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"time"
)

// Limits and constants, CometBFT's where it has them.
const (
	// BlockProtocol is the block protocol version of CometBFT v0.38.
	BlockProtocol = 11
	// HashSize is the size of the header's hashes (SHA-256).
	HashSize = sha256.Size
	// AddressSize is the size of a validator's address: the first 20
	// bytes of the SHA-256 of its public key.
	AddressSize = 20
	// MaxChainIDLen bounds a chain ID, in bytes.
	MaxChainIDLen = 50
	// MaxSignatureSize bounds a signature in a commit, as CometBFT v0.38.26
	// does (its largest scheme, ML-DSA-65). Only Ed25519 signatures (64
	// bytes) verify here.
	MaxSignatureSize = 3309
	// MaxValidators bounds a validator set and a commit: CometBFT's
	// light client fetches at most 100 pages of 100 validators.
	MaxValidators = 10000
	// MaxTotalVotingPower bounds a set's total voting power, as CometBFT
	// does (MaxInt64 / 8).
	MaxTotalVotingPower = int64(math.MaxInt64) / 8
)

// Header is a block header (CometBFT's types.Header). Its hash (Hash) is
// the block's ID; AppHash is the application's state after the previous
// block.
type Header struct {
	Version            Version
	ChainID            string
	Height             int64
	Time               time.Time
	LastBlockID        BlockID
	LastCommitHash     []byte
	DataHash           []byte
	ValidatorsHash     []byte // the validators of this height, who sign it
	NextValidatorsHash []byte // the validators of the next height
	ConsensusHash      []byte
	AppHash            []byte // the state after the block at Height-1
	LastResultsHash    []byte
	EvidenceHash       []byte
	ProposerAddress    []byte
}

// Version is the header's protocol versions.
type Version struct {
	Block uint64
	App   uint64
}

// BlockID identifies a block: its header's hash and its parts.
type BlockID struct {
	Hash          []byte
	PartSetHeader PartSetHeader
}

// PartSetHeader describes the parts a block was gossiped in.
type PartSetHeader struct {
	Total uint32
	Hash  []byte
}

// IsZero reports whether id is the ID of no block (what a vote for nil
// carries).
func (id BlockID) IsZero() bool {
	return len(id.Hash) == 0 && id.PartSetHeader.Total == 0 && len(id.PartSetHeader.Hash) == 0
}

// Equal reports whether id and o are the same block ID.
func (id BlockID) Equal(o BlockID) bool {
	return bytes.Equal(id.Hash, o.Hash) && id.PartSetHeader.Total == o.PartSetHeader.Total &&
		bytes.Equal(id.PartSetHeader.Hash, o.PartSetHeader.Hash)
}

// BlockIDFlag says what a validator's entry in a commit holds.
type BlockIDFlag uint8

// The flags of CometBFT.
const (
	FlagAbsent BlockIDFlag = 1 // no vote received
	FlagCommit BlockIDFlag = 2 // a precommit for the commit's block
	FlagNil    BlockIDFlag = 3 // a precommit for nil
)

// CommitSig is one validator's entry in a commit, at the validator's
// index in the set.
type CommitSig struct {
	Flag             BlockIDFlag
	ValidatorAddress []byte
	Timestamp        time.Time
	Signature        []byte
}

// Commit is the precommits of more than 2/3 of the validators for a block.
type Commit struct {
	Height     int64
	Round      int32
	BlockID    BlockID
	Signatures []CommitSig
}

// SignedHeader is a header with the commit that signs it: what /commit
// serves.
type SignedHeader struct {
	Header *Header
	Commit *Commit
}

// Validator is a member of a validator set. Only Ed25519 keys are
// supported.
type Validator struct {
	Address          []byte // the first 20 bytes of SHA-256(PubKey)
	PubKey           ed25519.PublicKey
	VotingPower      int64
	ProposerPriority int64 // as served; neither hashed nor checked
}

// ValidatorSet is a validator set in CometBFT's order: by voting power,
// highest first, then by address. Build one with NewValidatorSet, which
// checks it; the zero value is not valid.
type ValidatorSet struct {
	vals  []Validator
	total int64
	index map[[AddressSize]byte]int // address → position in vals
}

// AddressOf returns the address of a validator's key.
func AddressOf(pub ed25519.PublicKey) []byte {
	s := sha256.Sum256(pub)
	return s[:AddressSize]
}

// NewValidatorSet checks vals (non-empty, at most MaxValidators, Ed25519
// keys, no validator twice, non-negative powers within
// MaxTotalVotingPower, each address its key's; an empty address is
// derived) and returns them as a set, sorted in CometBFT's order (as its
// light client sorts what a node serves). vals is not modified.
func NewValidatorSet(vals []Validator) (*ValidatorSet, error) {
	if len(vals) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidValidators)
	}
	if len(vals) > MaxValidators {
		return nil, fmt.Errorf("%w: %d validators, at most %d", ErrInvalidValidators, len(vals), MaxValidators)
	}
	vs := &ValidatorSet{vals: make([]Validator, len(vals))}
	seen := make(map[[AddressSize]byte]bool, len(vals))
	for i, v := range vals {
		if len(v.PubKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: validator %d: public key of %d bytes", ErrInvalidValidators, i, len(v.PubKey))
		}
		addr := AddressOf(v.PubKey)
		if len(v.Address) != 0 && !bytes.Equal(v.Address, addr) {
			return nil, fmt.Errorf("%w: validator %d: address %X is not its key's (%X)", ErrInvalidValidators, i, v.Address, addr)
		}
		if seen[[AddressSize]byte(addr)] {
			return nil, fmt.Errorf("%w: validator %X appears twice", ErrInvalidValidators, addr)
		}
		seen[[AddressSize]byte(addr)] = true
		if v.VotingPower < 0 {
			return nil, fmt.Errorf("%w: validator %X: negative voting power %d", ErrInvalidValidators, addr, v.VotingPower)
		}
		vs.total += v.VotingPower
		if v.VotingPower > MaxTotalVotingPower || vs.total > MaxTotalVotingPower {
			return nil, fmt.Errorf("%w: total voting power over %d", ErrInvalidValidators, MaxTotalVotingPower)
		}
		vs.vals[i] = Validator{
			Address:          addr,
			PubKey:           bytes.Clone(v.PubKey),
			VotingPower:      v.VotingPower,
			ProposerPriority: v.ProposerPriority,
		}
	}
	slices.SortFunc(vs.vals, func(a, b Validator) int {
		if a.VotingPower != b.VotingPower {
			if a.VotingPower > b.VotingPower {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.Address, b.Address)
	})
	vs.index = make(map[[AddressSize]byte]int, len(vs.vals))
	for i, v := range vs.vals {
		vs.index[[AddressSize]byte(v.Address)] = i
	}
	return vs, nil
}

// Size returns the number of validators.
func (vs *ValidatorSet) Size() int { return len(vs.vals) }

// TotalVotingPower returns the sum of the validators' voting power.
func (vs *ValidatorSet) TotalVotingPower() int64 { return vs.total }

// Validators returns a copy of the validators, in the set's order.
func (vs *ValidatorSet) Validators() []Validator {
	out := make([]Validator, len(vs.vals))
	for i, v := range vs.vals {
		out[i] = v
		out[i].Address = bytes.Clone(v.Address)
		out[i].PubKey = bytes.Clone(v.PubKey)
	}
	return out
}

// byAddress returns the index of the validator with address addr, or -1.
func (vs *ValidatorSet) byAddress(addr []byte) int {
	if len(addr) != AddressSize {
		return -1
	}
	if i, ok := vs.index[[AddressSize]byte(addr)]; ok {
		return i
	}
	return -1
}

// validateHash checks a hash field: empty or HashSize bytes.
func validateHash(what string, h []byte) error {
	if len(h) != 0 && len(h) != HashSize {
		return fmt.Errorf("%s of %d bytes, want %d", what, len(h), HashSize)
	}
	return nil
}

// validateBlockID is CometBFT's BlockID.ValidateBasic.
func validateBlockID(what string, id BlockID) error {
	if err := validateHash(what+" hash", id.Hash); err != nil {
		return err
	}
	return validateHash(what+" part set hash", id.PartSetHeader.Hash)
}

// ValidateBasic makes CometBFT's stateless checks of a header.
func (h *Header) ValidateBasic() error {
	if h.Version.Block != BlockProtocol {
		return fmt.Errorf("%w: block protocol %d, want %d", ErrInvalidHeader, h.Version.Block, BlockProtocol)
	}
	if len(h.ChainID) > MaxChainIDLen {
		return fmt.Errorf("%w: chain ID of %d bytes, at most %d", ErrInvalidHeader, len(h.ChainID), MaxChainIDLen)
	}
	if h.Height <= 0 {
		return fmt.Errorf("%w: height %d", ErrInvalidHeader, h.Height)
	}
	if err := validateBlockID("last block ID", h.LastBlockID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidHeader, err)
	}
	for _, f := range []struct {
		what string
		h    []byte
	}{
		{"last commit hash", h.LastCommitHash},
		{"data hash", h.DataHash},
		{"evidence hash", h.EvidenceHash},
		{"validators hash", h.ValidatorsHash},
		{"next validators hash", h.NextValidatorsHash},
		{"consensus hash", h.ConsensusHash},
		{"last results hash", h.LastResultsHash},
	} {
		if err := validateHash(f.what, f.h); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidHeader, err)
		}
	}
	if len(h.ProposerAddress) != AddressSize {
		return fmt.Errorf("%w: proposer address of %d bytes, want %d", ErrInvalidHeader, len(h.ProposerAddress), AddressSize)
	}
	return nil
}

// validateBasic is CometBFT's CommitSig.ValidateBasic.
func (cs *CommitSig) validateBasic() error {
	switch cs.Flag {
	case FlagAbsent:
		if len(cs.ValidatorAddress) != 0 || !cs.Timestamp.IsZero() || len(cs.Signature) != 0 {
			return fmt.Errorf("an absent vote carries an address, a time or a signature")
		}
	case FlagCommit, FlagNil:
		if len(cs.ValidatorAddress) != AddressSize {
			return fmt.Errorf("validator address of %d bytes, want %d", len(cs.ValidatorAddress), AddressSize)
		}
		if len(cs.Signature) == 0 {
			return fmt.Errorf("signature missing")
		}
		if len(cs.Signature) > MaxSignatureSize {
			return fmt.Errorf("signature of %d bytes, at most %d", len(cs.Signature), MaxSignatureSize)
		}
	default:
		return fmt.Errorf("unknown block ID flag %d", cs.Flag)
	}
	return nil
}

// ValidateBasic makes CometBFT's stateless checks of a commit.
func (c *Commit) ValidateBasic() error {
	if c.Height < 0 {
		return fmt.Errorf("%w: negative height", ErrInvalidCommit)
	}
	if c.Round < 0 {
		return fmt.Errorf("%w: negative round", ErrInvalidCommit)
	}
	if c.Height == 0 {
		return nil
	}
	if c.BlockID.IsZero() {
		return fmt.Errorf("%w: commit for nil block", ErrInvalidCommit)
	}
	if len(c.Signatures) == 0 {
		return fmt.Errorf("%w: no signatures", ErrInvalidCommit)
	}
	for i := range c.Signatures {
		if err := c.Signatures[i].validateBasic(); err != nil {
			return fmt.Errorf("%w: signature %d: %v", ErrInvalidCommit, i, err)
		}
	}
	return nil
}

// ValidateBasic makes CometBFT's stateless checks of a signed header of
// chain chainID: the header's and the commit's, the chain, and that the
// commit is for this header's height and block.
func (sh *SignedHeader) ValidateBasic(chainID string) error {
	if sh == nil || sh.Header == nil {
		return fmt.Errorf("%w: missing header", ErrInvalidHeader)
	}
	if sh.Commit == nil {
		return fmt.Errorf("%w: missing commit", ErrInvalidHeader)
	}
	if err := sh.Header.ValidateBasic(); err != nil {
		return err
	}
	if err := sh.Commit.ValidateBasic(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidHeader, err)
	}
	if sh.Header.ChainID != chainID {
		return fmt.Errorf("%w: %q, not %q", ErrChainID, sh.Header.ChainID, chainID)
	}
	if sh.Commit.Height != sh.Header.Height {
		return fmt.Errorf("%w: header of height %d, commit of %d", ErrInvalidHeader, sh.Header.Height, sh.Commit.Height)
	}
	if hh, ch := sh.Header.Hash(), sh.Commit.BlockID.Hash; !bytes.Equal(hh, ch) {
		return fmt.Errorf("%w: the commit signs block %X, the header is block %X", ErrInvalidHeader, ch, hh)
	}
	return nil
}

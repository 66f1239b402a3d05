package lightclient

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/codec"
)

// stateVersion is the version of the persisted Trusted state.
const stateVersion = 1

// maxStateSize bounds a persisted state: MaxValidators validators of
// validatorSize bytes and the rest.
const maxStateSize = MaxValidators*validatorSize + 1024

// validatorSize is a validator's size in a persisted state: its key and
// its voting power (8 bytes, big-endian).
const validatorSize = ed25519.PublicKeySize + 8

// state is a Trusted as persisted: deterministic CBOR (package codec).
type state struct {
	Version            uint8  `cbor:"1,keyasint"`
	ChainID            string `cbor:"2,keyasint"`
	Height             int64  `cbor:"3,keyasint"`
	Hash               []byte `cbor:"4,keyasint"`
	Seconds            int64  `cbor:"5,keyasint"` // Time, in seconds and nanoseconds since 1970 (UTC)
	Nanos              int64  `cbor:"6,keyasint"`
	NextValidatorsHash []byte `cbor:"7,keyasint"`
	Validators         []byte `cbor:"8,keyasint"` // validatorSize bytes each, in the set's order
}

// MarshalBinary encodes t for a client to persist its trust across
// restarts (deterministic CBOR, a few hundred bytes for a handful of
// validators). Whoever can write where it is kept can choose what the
// client trusts: keep it as the client keeps its keys.
func (t *Trusted) MarshalBinary() ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	s := state{
		Version:            stateVersion,
		ChainID:            t.ChainID,
		Height:             t.Height,
		Hash:               t.Hash,
		Seconds:            t.Time.Unix(),
		Nanos:              int64(t.Time.Nanosecond()),
		NextValidatorsHash: t.NextValidatorsHash,
		Validators:         make([]byte, 0, validatorSize*t.Validators.Size()),
	}
	for _, v := range t.Validators.vals {
		s.Validators = append(s.Validators, v.PubKey...)
		s.Validators = binary.BigEndian.AppendUint64(s.Validators, uint64(v.VotingPower))
	}
	return codec.Marshal(&s)
}

// UnmarshalBinary decodes a state MarshalBinary wrote, and checks it: a
// damaged file is ErrMalformed, not a different trust.
func (t *Trusted) UnmarshalBinary(data []byte) error {
	var s state
	if err := codec.UnmarshalLimit(data, maxStateSize, &s); err != nil {
		return fmt.Errorf("%w: trusted state: %w", ErrMalformed, err)
	}
	if err := codec.CheckVersion("trusted state", s.Version, stateVersion); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(s.Validators)%validatorSize != 0 {
		return fmt.Errorf("%w: trusted state: validators of %d bytes", ErrMalformed, len(s.Validators))
	}
	if s.Nanos < 0 || s.Nanos >= 1e9 {
		return fmt.Errorf("%w: trusted state: %d nanoseconds", ErrMalformed, s.Nanos)
	}
	vals := make([]Validator, 0, len(s.Validators)/validatorSize)
	for b := s.Validators; len(b) > 0; b = b[validatorSize:] {
		vals = append(vals, Validator{
			PubKey:      ed25519.PublicKey(b[:ed25519.PublicKeySize]),
			VotingPower: int64(binary.BigEndian.Uint64(b[ed25519.PublicKeySize:validatorSize])),
		})
	}
	vs, err := NewValidatorSet(vals)
	if err != nil {
		return fmt.Errorf("%w: trusted state: %w", ErrMalformed, err)
	}
	for i := range vals {
		if !vals[i].PubKey.Equal(vs.vals[i].PubKey) {
			return fmt.Errorf("%w: trusted state: validators out of order", ErrMalformed) // one state, one encoding
		}
	}
	n := Trusted{
		ChainID:            s.ChainID,
		Height:             s.Height,
		Hash:               s.Hash,
		Time:               time.Unix(s.Seconds, s.Nanos).UTC(),
		NextValidatorsHash: s.NextValidatorsHash,
		Validators:         vs,
	}
	if len(n.Hash) == 0 {
		n.Hash = nil
	}
	if err := n.check(); err != nil {
		return err
	}
	*t = n
	return nil
}

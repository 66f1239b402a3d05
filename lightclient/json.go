package lightclient

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Bounds on what the decoders accept: a node's answer is untrusted bytes.
const (
	// MaxCommitSize bounds a /commit answer: a header and up to
	// MaxValidators signatures.
	MaxCommitSize = 4 << 20
	// MaxValidatorsSize bounds a /validators answer: one page.
	MaxValidatorsSize = 256 << 10
	// MaxPerPage bounds a page of validators (CometBFT serves at most
	// 100 a page).
	MaxPerPage = 100
	// MaxGenesisSize bounds a genesis file or /genesis answer.
	MaxGenesisSize = 16 << 20
)

// ed25519KeyType is the JSON type of an Ed25519 key in CometBFT's JSON.
const ed25519KeyType = "tendermint/PubKeyEd25519"

// The JSON of CometBFT's RPC (its libs/json: 64-bit integers as decimal
// strings, byte hashes and addresses in hex, other bytes in base64, times
// in RFC 3339).

// jsonInt64 is a 64-bit integer, as a decimal string.
type jsonInt64 int64

func (i *jsonInt64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("64-bit integer not a string: %s", clip(b))
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("64-bit integer %q: %v", clip([]byte(s)), err)
	}
	*i = jsonInt64(v)
	return nil
}

// jsonUint64 is an unsigned 64-bit integer, as a decimal string.
type jsonUint64 uint64

func (i *jsonUint64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("64-bit integer not a string: %s", clip(b))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("64-bit integer %q: %v", clip([]byte(s)), err)
	}
	*i = jsonUint64(v)
	return nil
}

// hexBytes is bytes in hex (either case); null or "" for none.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("hex bytes not a string: %s", clip(b))
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("hex bytes %q: %v", clip([]byte(s)), err)
	}
	if len(v) == 0 {
		v = nil
	}
	*h = v
	return nil
}

// clip shortens untrusted bytes quoted in an error.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

type jsonBlockID struct {
	Hash  hexBytes `json:"hash"`
	Parts struct {
		Total uint32   `json:"total"`
		Hash  hexBytes `json:"hash"`
	} `json:"parts"`
}

func (j *jsonBlockID) blockID() BlockID {
	return BlockID{Hash: j.Hash, PartSetHeader: PartSetHeader{Total: j.Parts.Total, Hash: j.Parts.Hash}}
}

type jsonHeader struct {
	Version struct {
		Block jsonUint64 `json:"block"`
		App   jsonUint64 `json:"app"`
	} `json:"version"`
	ChainID            string      `json:"chain_id"`
	Height             jsonInt64   `json:"height"`
	Time               time.Time   `json:"time"`
	LastBlockID        jsonBlockID `json:"last_block_id"`
	LastCommitHash     hexBytes    `json:"last_commit_hash"`
	DataHash           hexBytes    `json:"data_hash"`
	ValidatorsHash     hexBytes    `json:"validators_hash"`
	NextValidatorsHash hexBytes    `json:"next_validators_hash"`
	ConsensusHash      hexBytes    `json:"consensus_hash"`
	AppHash            hexBytes    `json:"app_hash"`
	LastResultsHash    hexBytes    `json:"last_results_hash"`
	EvidenceHash       hexBytes    `json:"evidence_hash"`
	ProposerAddress    hexBytes    `json:"proposer_address"`
}

type jsonCommitSig struct {
	Flag             uint8     `json:"block_id_flag"`
	ValidatorAddress hexBytes  `json:"validator_address"`
	Timestamp        time.Time `json:"timestamp"`
	Signature        []byte    `json:"signature"`
}

type jsonCommit struct {
	Height     jsonInt64       `json:"height"`
	Round      int32           `json:"round"`
	BlockID    jsonBlockID     `json:"block_id"`
	Signatures []jsonCommitSig `json:"signatures"`
}

type jsonPubKey struct {
	Type  string `json:"type"`
	Value []byte `json:"value"`
}

// key returns an Ed25519 key.
func (k *jsonPubKey) key() (ed25519.PublicKey, error) {
	if k.Type != ed25519KeyType {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedKey, clip([]byte(k.Type)))
	}
	if len(k.Value) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrMalformed, len(k.Value))
	}
	return ed25519.PublicKey(k.Value), nil
}

type jsonValidator struct {
	Address          hexBytes   `json:"address"`
	PubKey           jsonPubKey `json:"pub_key"`
	VotingPower      jsonInt64  `json:"voting_power"`
	ProposerPriority jsonInt64  `json:"proposer_priority"`
}

// rpcResult returns the result of a JSON-RPC answer, or data itself if
// it is not a JSON-RPC answer (a result already taken out of one).
func rpcResult(what string, data []byte, max int) (json.RawMessage, error) {
	if len(data) > max {
		return nil, fmt.Errorf("%w: %s of %d bytes, at most %d", ErrMalformed, what, len(data), max)
	}
	var env struct {
		JSONRPC string          `json:"jsonrpc"`
		Result  json.RawMessage `json:"result"`
		Error   *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	switch {
	case env.Error != nil:
		return nil, fmt.Errorf("%w: %s: the node answered error %d: %s %s", ErrMalformed, what,
			env.Error.Code, clip([]byte(env.Error.Message)), clip([]byte(env.Error.Data)))
	case env.JSONRPC == "" && env.Result == nil:
		return data, nil
	case len(env.Result) == 0 || string(env.Result) == "null":
		return nil, fmt.Errorf("%w: %s: answer without a result", ErrMalformed, what)
	}
	return env.Result, nil
}

// DecodeCommit decodes a node's answer to /commit?height=H (the JSON-RPC
// answer, or its result): the signed header. It checks the shape only
// (sizes, types, at most MaxValidators signatures); Verifier.Verify
// checks the rest.
func DecodeCommit(data []byte) (*SignedHeader, error) {
	res, err := rpcResult("commit", data, MaxCommitSize)
	if err != nil {
		return nil, err
	}
	var r struct {
		SignedHeader *struct {
			Header *jsonHeader `json:"header"`
			Commit *jsonCommit `json:"commit"`
		} `json:"signed_header"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, fmt.Errorf("%w: commit: %v", ErrMalformed, err)
	}
	if r.SignedHeader == nil || r.SignedHeader.Header == nil || r.SignedHeader.Commit == nil {
		return nil, fmt.Errorf("%w: commit: no signed header", ErrMalformed)
	}
	jh, jc := r.SignedHeader.Header, r.SignedHeader.Commit
	if len(jc.Signatures) > MaxValidators {
		return nil, fmt.Errorf("%w: commit of %d signatures, at most %d", ErrMalformed, len(jc.Signatures), MaxValidators)
	}
	h := &Header{
		Version:            Version{Block: uint64(jh.Version.Block), App: uint64(jh.Version.App)},
		ChainID:            jh.ChainID,
		Height:             int64(jh.Height),
		Time:               jh.Time,
		LastBlockID:        jh.LastBlockID.blockID(),
		LastCommitHash:     jh.LastCommitHash,
		DataHash:           jh.DataHash,
		ValidatorsHash:     jh.ValidatorsHash,
		NextValidatorsHash: jh.NextValidatorsHash,
		ConsensusHash:      jh.ConsensusHash,
		AppHash:            jh.AppHash,
		LastResultsHash:    jh.LastResultsHash,
		EvidenceHash:       jh.EvidenceHash,
		ProposerAddress:    jh.ProposerAddress,
	}
	c := &Commit{
		Height:     int64(jc.Height),
		Round:      jc.Round,
		BlockID:    jc.BlockID.blockID(),
		Signatures: make([]CommitSig, len(jc.Signatures)),
	}
	for i, s := range jc.Signatures {
		c.Signatures[i] = CommitSig{Flag: BlockIDFlag(s.Flag), ValidatorAddress: s.ValidatorAddress, Timestamp: s.Timestamp, Signature: s.Signature}
		if len(s.Signature) == 0 {
			c.Signatures[i].Signature = nil
		}
	}
	return &SignedHeader{Header: h, Commit: c}, nil
}

// ValidatorsPage is one page of a node's answer to /validators.
type ValidatorsPage struct {
	Height     int64
	Validators []Validator
	Total      int // validators in the whole set
}

// DecodeValidators decodes a node's answer to
// /validators?height=H&page=N&per_page=100 (the JSON-RPC answer, or its
// result). Keys must be Ed25519 (ErrUnsupportedKey). Join the pages with
// JoinPages.
func DecodeValidators(data []byte) (*ValidatorsPage, error) {
	res, err := rpcResult("validators", data, MaxValidatorsSize)
	if err != nil {
		return nil, err
	}
	var r struct {
		BlockHeight jsonInt64       `json:"block_height"`
		Validators  []jsonValidator `json:"validators"`
		Count       jsonInt64       `json:"count"`
		Total       jsonInt64       `json:"total"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, fmt.Errorf("%w: validators: %v", ErrMalformed, err)
	}
	switch {
	case len(r.Validators) == 0:
		return nil, fmt.Errorf("%w: validators: an empty page", ErrMalformed)
	case len(r.Validators) > MaxPerPage:
		return nil, fmt.Errorf("%w: validators: %d in a page, at most %d", ErrMalformed, len(r.Validators), MaxPerPage)
	case int64(r.Count) != int64(len(r.Validators)):
		return nil, fmt.Errorf("%w: validators: a page of %d says %d", ErrMalformed, len(r.Validators), r.Count)
	case r.Total < r.Count || r.Total > MaxValidators:
		return nil, fmt.Errorf("%w: validators: %d in all, in a page of %d", ErrMalformed, r.Total, r.Count)
	case r.BlockHeight <= 0:
		return nil, fmt.Errorf("%w: validators: height %d", ErrMalformed, r.BlockHeight)
	}
	p := &ValidatorsPage{Height: int64(r.BlockHeight), Total: int(r.Total), Validators: make([]Validator, len(r.Validators))}
	for i, v := range r.Validators {
		pub, err := v.PubKey.key()
		if err != nil {
			return nil, fmt.Errorf("validators: validator %d: %w", i, err)
		}
		p.Validators[i] = Validator{Address: v.Address, PubKey: pub, VotingPower: int64(v.VotingPower), ProposerPriority: int64(v.ProposerPriority)}
	}
	return p, nil
}

// JoinPages joins the pages of one /validators answer into a set: all of
// one height and total, together the whole set.
func JoinPages(pages ...*ValidatorsPage) (*ValidatorSet, error) {
	if len(pages) == 0 {
		return nil, fmt.Errorf("%w: no pages", ErrInvalidValidators)
	}
	var all []Validator
	for i, p := range pages {
		if p.Height != pages[0].Height || p.Total != pages[0].Total {
			return nil, fmt.Errorf("%w: page %d is of height %d and %d validators, page 1 of %d and %d",
				ErrInvalidValidators, i+1, p.Height, p.Total, pages[0].Height, pages[0].Total)
		}
		all = append(all, p.Validators...)
		if len(all) > pages[0].Total {
			break
		}
	}
	if len(all) != pages[0].Total {
		return nil, fmt.Errorf("%w: %d validators in the pages, %d in the set", ErrInvalidValidators, len(all), pages[0].Total)
	}
	return NewValidatorSet(all)
}

// DecodeGenesis decodes a genesis file, or a node's answer to /genesis,
// into what TrustGenesis needs. Validators' keys must be Ed25519.
func DecodeGenesis(data []byte) (*Genesis, error) {
	res, err := rpcResult("genesis", data, MaxGenesisSize)
	if err != nil {
		return nil, err
	}
	var wrapped struct {
		Genesis json.RawMessage `json:"genesis"`
	}
	if err := json.Unmarshal(res, &wrapped); err != nil {
		return nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
	}
	if len(wrapped.Genesis) > 0 {
		res = wrapped.Genesis
	}
	var g struct {
		GenesisTime   time.Time `json:"genesis_time"`
		ChainID       string    `json:"chain_id"`
		InitialHeight jsonInt64 `json:"initial_height"`
		Validators    []struct {
			Address hexBytes   `json:"address"`
			PubKey  jsonPubKey `json:"pub_key"`
			Power   jsonInt64  `json:"power"`
		} `json:"validators"`
	}
	if err := json.Unmarshal(res, &g); err != nil {
		return nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
	}
	if len(g.Validators) > MaxValidators {
		return nil, fmt.Errorf("%w: genesis: %d validators, at most %d", ErrMalformed, len(g.Validators), MaxValidators)
	}
	vals := make([]Validator, len(g.Validators))
	for i, v := range g.Validators {
		pub, err := v.PubKey.key()
		if err != nil {
			return nil, fmt.Errorf("genesis: validator %d: %w", i, err)
		}
		vals[i] = Validator{Address: bytes.Clone(v.Address), PubKey: pub, VotingPower: int64(v.Power)}
	}
	vs, err := NewValidatorSet(vals)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return &Genesis{ChainID: g.ChainID, InitialHeight: int64(g.InitialHeight), Time: g.GenesisTime, Validators: vs}, nil
}

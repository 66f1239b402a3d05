package lightclient

import (
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protowire"
)

// The encodings CometBFT hashes and signs are protobuf (proto3: a zero
// scalar is left out; a non-nullable message field is written even when
// empty). They are written here field by field with protowire, each with
// the message it stands for in CometBFT's .proto files.

// merkleRoot is CometBFT's merkle.HashFromByteSlices: the RFC 6962 tree
// (leaf SHA-256(0x00||d), inner SHA-256(0x01||l||r), split at the largest
// power of two below n, SHA-256("") for none).
func merkleRoot(items [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch len(items) {
	case 0:
		return h.EmptyRoot()
	case 1:
		return h.HashLeaf(items[0])
	}
	k := 1
	for k*2 < len(items) {
		k *= 2
	}
	return h.HashChildren(merkleRoot(items[:k]), merkleRoot(items[k:]))
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendSfixed64Field(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(v))
}

// appendMessageField writes a message field whether empty or not (gogoproto's
// non-nullable fields).
func appendMessageField(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// timestamp is google.protobuf.Timestamp {int64 seconds = 1; int32 nanos = 2}.
func timestamp(t time.Time) []byte {
	b := appendVarintField(nil, 1, uint64(t.Unix()))
	return appendVarintField(b, 2, uint64(int64(t.Nanosecond())))
}

// validTimestamp reports whether t is within what a Timestamp may hold
// (years 1 to 9999), outside of which CometBFT cannot hash or sign it.
func validTimestamp(t time.Time) bool {
	const minSec, maxSec = -62135596800, 253402300799
	s := t.Unix()
	return s >= minSec && s <= maxSec
}

// partSetHeader is tendermint.types.PartSetHeader {uint32 total = 1; bytes
// hash = 2} (CanonicalPartSetHeader has the same fields).
func partSetHeader(p PartSetHeader) []byte {
	b := appendVarintField(nil, 1, uint64(p.Total))
	return appendBytesField(b, 2, p.Hash)
}

// blockID is tendermint.types.BlockID {bytes hash = 1; PartSetHeader
// part_set_header = 2 (non-nullable)}; CanonicalBlockID is the same.
func blockID(id BlockID) []byte {
	b := appendBytesField(nil, 1, id.Hash)
	return appendMessageField(b, 2, partSetHeader(id.PartSetHeader))
}

// Wrappers of gogoproto's types (StringValue, Int64Value, BytesValue
// {value = 1}), as CometBFT's cdcEncode writes them: nothing for a zero
// value.
func stringValue(s string) []byte { return appendBytesField(nil, 1, []byte(s)) }
func int64Value(v int64) []byte   { return appendVarintField(nil, 1, uint64(v)) }
func bytesValue(v []byte) []byte  { return appendBytesField(nil, 1, v) }

// Hash returns the header's hash, CometBFT's Header.Hash: the Merkle root
// of its 14 fields' encodings, in order. It returns nil if ValidatorsHash
// is empty (no valid header has none) or Time cannot be encoded, as
// CometBFT does.
func (h *Header) Hash() []byte {
	if h == nil || len(h.ValidatorsHash) == 0 || !validTimestamp(h.Time) {
		return nil
	}
	version := appendVarintField(nil, 1, h.Version.Block) // tendermint.version.Consensus
	version = appendVarintField(version, 2, h.Version.App)
	return merkleRoot([][]byte{
		version,
		stringValue(h.ChainID),
		int64Value(h.Height),
		timestamp(h.Time),
		blockID(h.LastBlockID),
		bytesValue(h.LastCommitHash),
		bytesValue(h.DataHash),
		bytesValue(h.ValidatorsHash),
		bytesValue(h.NextValidatorsHash),
		bytesValue(h.ConsensusHash),
		bytesValue(h.AppHash),
		bytesValue(h.LastResultsHash),
		bytesValue(h.EvidenceHash),
		bytesValue(h.ProposerAddress),
	})
}

// bytes is a validator's leaf in its set's hash: tendermint.types.
// SimpleValidator {tendermint.crypto.PublicKey pub_key = 1; int64
// voting_power = 2}, the key the oneof's ed25519 field (1).
func (v *Validator) bytes() []byte {
	pk := protowire.AppendTag(nil, 1, protowire.BytesType)
	pk = protowire.AppendBytes(pk, v.PubKey)
	b := appendMessageField(nil, 1, pk)
	return appendVarintField(b, 2, uint64(v.VotingPower))
}

// Hash returns the set's hash, CometBFT's ValidatorSet.Hash: the Merkle
// root of its validators' encodings, in the set's order. A header's
// ValidatorsHash and NextValidatorsHash are such hashes.
func (vs *ValidatorSet) Hash() []byte {
	leaves := make([][]byte, len(vs.vals))
	for i := range vs.vals {
		leaves[i] = vs.vals[i].bytes()
	}
	return merkleRoot(leaves)
}

// precommitType is SignedMsgType PRECOMMIT.
const precommitType = 2

// VoteSignBytes returns what the validator at index i signed for its
// entry in the commit, CometBFT's Commit.VoteSignBytes: its
// tendermint.types.CanonicalVote {SignedMsgType type = 1; sfixed64 height
// = 2; sfixed64 round = 3; CanonicalBlockID block_id = 4 (left out for
// nil); Timestamp timestamp = 5 (non-nullable); string chain_id = 6},
// prefixed with its length as a varint (protodelim). The block ID is the
// commit's for a FlagCommit entry and nil otherwise.
func (c *Commit) VoteSignBytes(chainID string, i int) []byte {
	cs := &c.Signatures[i]
	b := appendVarintField(nil, 1, precommitType)
	b = appendSfixed64Field(b, 2, c.Height)
	b = appendSfixed64Field(b, 3, int64(c.Round))
	if cs.Flag == FlagCommit && !c.BlockID.IsZero() {
		b = appendMessageField(b, 4, blockID(c.BlockID))
	}
	b = appendMessageField(b, 5, timestamp(cs.Timestamp))
	b = appendBytesField(b, 6, []byte(chainID))
	return protowire.AppendBytes(make([]byte, 0, len(b)+2), b)
}

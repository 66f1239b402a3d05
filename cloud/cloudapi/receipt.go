package cloudapi

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// A Receipt is a cloud's signed promise, as a certificate transparency log
// signs an SCT: the records it names are durably stored at these positions
// of its records log, and an anchored checkpoint covering them will be on
// the ledger by AnchorBy. The cloud signs one per upload answer (context
// ReceiptContext); a gateway lets a record go only once an inclusion proof
// into an anchored checkpoint verifies, and counts a receipt not honoured
// by its deadline as an alarm.
type Receipt struct {
	Version  uint8         `cbor:"1,keyasint"` // 1
	Cloud    identity.ID   `cbor:"2,keyasint"`
	Records  []ReceiptItem `cbor:"3,keyasint"` // ascending by ID
	Stored   int64         `cbor:"4,keyasint"` // when, Unix ms
	AnchorBy int64         `cbor:"5,keyasint"` // Unix ms
	Sig      []byte        `cbor:"6,keyasint"`
}

// ReceiptItem is one record of a Receipt.
type ReceiptItem struct {
	ID    [32]byte `cbor:"1,keyasint"`
	Index uint64   `cbor:"2,keyasint"`
}

// ReceiptContext is the signing context of a Receipt.
const ReceiptContext = "cloud-receipt/v1"

// MaxReceiptSize bounds an encoded Receipt (MaxUploadRecords items).
const MaxReceiptSize = 64 << 10

// Receipt errors.
var (
	ErrBadReceipt   = errors.New("bad receipt")
	ErrNotInReceipt = errors.New("record not in the receipt")
)

// Sign signs r with the cloud's key and returns its encoding.
func (r Receipt) Sign(key *identity.SigningKey) ([]byte, error) {
	r.Version, r.Sig = 1, nil
	slices.SortFunc(r.Records, func(a, b ReceiptItem) int { return slices.Compare(a.ID[:], b.ID[:]) })
	msg, err := codec.Marshal(&r)
	if err != nil {
		return nil, err
	}
	r.Sig = key.SignContext(ReceiptContext, msg)
	return codec.Marshal(&r)
}

// ParseReceipt decodes a receipt from untrusted bytes and checks its
// signature with the key of the cloud it names (key's ID must be that
// cloud's).
func ParseReceipt(b []byte, cloud identity.VerifyingKey) (*Receipt, error) {
	var r Receipt
	if err := codec.UnmarshalLimit(b, MaxReceiptSize, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if err := codec.CheckVersion("receipt", r.Version, 1); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if r.Cloud != cloud.ID() {
		return nil, fmt.Errorf("%w: signed for cloud %s, not %s", ErrBadReceipt, r.Cloud, cloud.ID())
	}
	for i := 1; i < len(r.Records); i++ {
		if slices.Compare(r.Records[i-1].ID[:], r.Records[i].ID[:]) >= 0 {
			return nil, fmt.Errorf("%w: records not ascending", ErrBadReceipt)
		}
	}
	u := r
	u.Sig = nil
	msg, err := codec.Marshal(&u)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if err := cloud.VerifyContext(ReceiptContext, msg, r.Sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	return &r, nil
}

// Index returns the position the receipt gives record id.
func (r *Receipt) Index(id [32]byte) (uint64, error) {
	i, ok := slices.BinarySearchFunc(r.Records, id, func(it ReceiptItem, id [32]byte) int { return slices.Compare(it.ID[:], id[:]) })
	if !ok {
		return 0, fmt.Errorf("%w: %x", ErrNotInReceipt, id[:8])
	}
	return r.Records[i].Index, nil
}

// ProofResult answers GET /v1/proof: where a record is in the records log,
// and the proof of it into the latest anchored checkpoint (Anchored), or,
// if none covers it yet, into the current one.
type ProofResult struct {
	Index      uint64               `cbor:"1,keyasint"`
	Checkpoint merklelog.Checkpoint `cbor:"2,keyasint"`
	Anchored   bool                 `cbor:"3,keyasint"`
	Proof      merklelog.Proof      `cbor:"4,keyasint"`
	// Erased: the record's ciphertext was erased at its patient's
	// request; its leaf, and so this proof, remain.
	Erased bool `cbor:"5,keyasint,omitempty"`
}

package ledger

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// TxVersion is the version of the transaction format. Version 2 signs the
// chain ID; version 3 seals contracts' terms (DeployContract).
const TxVersion = 3

// MaxTxSize bounds an encoded transaction, in bytes.
const MaxTxSize = 64 << 10

// Type is a transaction's type. Its numbers are part of the wire format.
type Type uint8

// The transaction types.
const (
	TypeRegister          Type = 1  // admit an actor to a cluster (or bind a device to its patient)
	TypeDeployContract    Type = 2  // an alert contract, signed by the patient, accepted by its providers
	TypeTerminateContract Type = 3  // end a contract
	TypeSessionKey        Type = 4  // transaction 1: a new epoch's session key, wrapped to the patient
	TypeGrant             Type = 5  // transaction 2: the session key wrapped to a provider, with scope and expiry
	TypeRevoke            Type = 6  // end a grant and start a new epoch
	TypeProviderRecord    Type = 7  // transaction 3: a provider's record for the patient, key wrapped to the patient
	TypeAnchor            Type = 8  // a cloud's checkpoint with its consistency proof
	TypeAlert             Type = 9  // an alert header (no health data)
	TypeDeviceCommand     Type = 10 // a provider's command to a patient's device
	TypeVote              Type = 11 // an authority's vote to add or remove an authority
	TypeHandover          Type = 12 // a cluster's new Cluster Head takes over from the old
	TypeMigrate           Type = 13 // a member moves to another cluster
	TypeErase             Type = 14 // a patient's data erased: its grants end, no new keys or grants
)

var typeNames = [...]string{
	TypeRegister:          "register",
	TypeDeployContract:    "deploy_contract",
	TypeTerminateContract: "terminate_contract",
	TypeSessionKey:        "session_key",
	TypeGrant:             "grant",
	TypeRevoke:            "revoke",
	TypeProviderRecord:    "provider_record",
	TypeAnchor:            "anchor",
	TypeAlert:             "alert",
	TypeDeviceCommand:     "device_command",
	TypeVote:              "vote",
	TypeHandover:          "handover",
	TypeMigrate:           "migrate",
	TypeErase:             "erase",
}

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return t != 0 && int(t) < len(typeNames) }

// String returns the type's name.
func (t Type) String() string {
	if !t.Valid() {
		return "type(" + strconv.Itoa(int(t)) + ")"
	}
	return typeNames[t]
}

// Tx is a signed transaction. Body is the canonical CBOR encoding of the
// body struct of its Type; Sig is the signer's Ed25519 signature, in context
// "tx/v3", over the canonical encoding of the Tx with Sig empty, so over
// ChainID too: a transaction signed for one chain (a test network) is
// refused by every other (CodeWrongChain), though the same keys sign on both.
type Tx struct {
	Version uint8  `cbor:"1,keyasint"`
	Type    Type   `cbor:"2,keyasint"`
	Signer  []byte `cbor:"3,keyasint"` // the signer's 32-byte Ed25519 public key
	Seq     uint64 `cbor:"4,keyasint"` // the signer's sequence number, from 1
	Body    []byte `cbor:"5,keyasint"`
	Sig     []byte `cbor:"6,keyasint,omitempty"`
	ChainID string `cbor:"7,keyasint"` // the chain's ID, as its genesis names it
}

const txContext = "tx/v3"

// MaxChainIDLen bounds a chain ID, as CometBFT does.
const MaxChainIDLen = 50

func checkChainID(id string) error {
	if id == "" || len(id) > MaxChainIDLen {
		return fmt.Errorf("chain ID of %d bytes, want 1 to %d", len(id), MaxChainIDLen)
	}
	return nil
}

// SignerID returns the ID of the transaction's signer.
func (tx *Tx) SignerID() identity.ID { return sha256.Sum256(tx.Signer) }

// signedBytes returns what the signature covers.
func (tx *Tx) signedBytes() ([]byte, error) {
	c := *tx
	c.Sig = nil
	return codec.Marshal(&c)
}

// NewTx builds and signs a transaction carrying body, for the chain whose
// ID is chainID (a client learns it from the QueryChainID query).
func NewTx(chainID string, key *identity.SigningKey, seq uint64, body Body) ([]byte, error) {
	if err := checkChainID(chainID); err != nil {
		return nil, err
	}
	b, err := codec.Marshal(body)
	if err != nil {
		return nil, err
	}
	tx := &Tx{Version: TxVersion, Type: body.TxType(), Signer: key.Public().Bytes(), Seq: seq, Body: b, ChainID: chainID}
	msg, err := tx.signedBytes()
	if err != nil {
		return nil, err
	}
	tx.Sig = key.SignContext(txContext, msg)
	return codec.Marshal(tx)
}

// Hash returns the transaction's hash, as CometBFT computes it: SHA-256 of its bytes.
func Hash(txBytes []byte) [32]byte { return sha256.Sum256(txBytes) }

// Decoded is a transaction whose encoding and signature have been checked,
// with its body decoded.
type Decoded struct {
	Tx   Tx
	Body Body
	Hash [32]byte
}

// Decode checks a transaction statelessly: its size and encoding, its
// version and type, its signature, and its body's own consistency. It does
// not look at the state, so not at its chain ID either (CheckTx and
// Execute do).
func Decode(txBytes []byte) (*Decoded, error) {
	if len(txBytes) > MaxTxSize {
		return nil, errorf(CodeTooLarge, "transaction of %d bytes, limit %d", len(txBytes), MaxTxSize)
	}
	var tx Tx
	if err := codec.UnmarshalLimit(txBytes, MaxTxSize, &tx); err != nil {
		return nil, wrap(CodeMalformed, "decode transaction", err)
	}
	if err := codec.CheckVersion("transaction", tx.Version, TxVersion); err != nil {
		return nil, wrap(CodeUnknownVersion, "", err)
	}
	if !tx.Type.Valid() {
		return nil, errorf(CodeUnknownType, "unknown transaction type %d", tx.Type)
	}
	if tx.Seq == 0 {
		return nil, errorf(CodeMalformed, "sequence number 0 (they start at 1)")
	}
	if err := checkChainID(tx.ChainID); err != nil {
		return nil, wrap(CodeMalformed, "transaction", err)
	}
	if len(tx.Sig) == 0 {
		return nil, errorf(CodeUnsigned, "transaction is not signed")
	}
	msg, err := tx.signedBytes()
	if err != nil {
		return nil, wrap(CodeMalformed, "encode transaction", err)
	}
	if err := identity.VerifyContext(tx.Signer, txContext, msg, tx.Sig); err != nil {
		return nil, wrap(CodeBadSignature, "transaction signature", err)
	}
	body := newBody(tx.Type)
	if err := codec.UnmarshalLimit(tx.Body, MaxTxSize, body); err != nil {
		return nil, wrap(CodeMalformed, "decode "+tx.Type.String()+" body", err)
	}
	d := &Decoded{Tx: tx, Body: body, Hash: Hash(txBytes)}
	if err := body.check(d); err != nil {
		return nil, err
	}
	return d, nil
}

// Body is the type-specific part of a transaction.
type Body interface {
	// TxType returns the type of transaction that carries this body.
	TxType() Type
	// check validates the body statelessly, given its signed transaction.
	check(d *Decoded) error
	// apply validates the body against the state and changes it.
	apply(x *exec, d *Decoded) error
}

func newBody(t Type) Body {
	switch t {
	case TypeRegister:
		return new(Register)
	case TypeDeployContract:
		return new(DeployContract)
	case TypeTerminateContract:
		return new(TerminateContract)
	case TypeSessionKey:
		return new(SessionKey)
	case TypeGrant:
		return new(Grant)
	case TypeRevoke:
		return new(Revoke)
	case TypeProviderRecord:
		return new(ProviderRecord)
	case TypeAnchor:
		return new(Anchor)
	case TypeAlert:
		return new(Alert)
	case TypeDeviceCommand:
		return new(DeviceCommand)
	case TypeVote:
		return new(Vote)
	case TypeHandover:
		return new(Handover)
	case TypeMigrate:
		return new(Migrate)
	case TypeErase:
		return new(Erase)
	}
	panic(fmt.Sprintf("ledger: newBody of invalid type %d", t))
}

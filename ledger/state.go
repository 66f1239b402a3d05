package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// Store is the committed state as the state machine reads it. Get returns
// nil and no error for a key that is absent.
type Store interface {
	Get(key []byte) ([]byte, error)
}

// IterStore is a Store that can also list keys by prefix in ascending
// order, for queries. Iterate stops early when fn returns false.
type IterStore interface {
	Store
	Iterate(prefix []byte, fn func(key, value []byte) bool) error
}

// Key prefixes of the state. Every key is one prefix byte followed by fixed
// width fields, so prefix iteration lists a patient's grants, a cluster's
// members and so on in ascending order.
const (
	pParams      = 'p' // p → Params
	pAuthorities = 'A' // A → []Authority (the validator set, sorted by ID)
	pPending     = 'P' // P → []Authority (validator changes not yet applied; power 0 removes)
	pMember      = 'M' // M id → Member
	pClusterMem  = 'm' // m cluster(4) role(1) id → "" (a Cluster Head's requesters, requestees, …)
	pCluster     = 'c' // c cluster(4) → Cluster
	pSeq         = 'n' // n id → seqWindow
	pVote        = 'v' // v candidate op(1) → []identity.ID voters
	pContract    = 'k' // k contract → ContractRecord
	pPatientK    = 'K' // K patient contract → "" (a patient's contracts)
	pPatient     = 'e' // e patient → PatientState
	pEnvelope    = 'E' // E patient epoch(8) recipient → envelope bytes
	pScope       = 'S' // S patient epoch(8) provider → sealed scope keys
	pGrant       = 'g' // g patient provider → GrantRecord
	pGrantIdx    = 'G' // G patient → grantIndex
	pAnchor      = 'x' // x cloud log(1) → AnchorRecord (latest)
	pAnchorAt    = 'X' // X cloud log(1) size(8) → AnchorRecord
	pAlert       = 'l' // l patient record → AlertRecord
	pRecord3     = 'r' // r patient record → ProviderRecordEntry
	pDeviceCmd   = 'd' // d device → DeviceCommandRecord (the latest)
	pAbsent      = 'a' // a authority → Absence: since when, and from how many consecutive commits, its signature is missing
	pChainID     = 'i' // i → the chain ID, from genesis: every transaction signs it
)

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 1, n)
	k[0] = prefix
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Params are the chain's rules that genesis sets.
type Params struct {
	// AnchorCap bounds the anchors in one block.
	AnchorCap uint32 `cbor:"1,keyasint"`
	// AnchorPassAfterMs: a proposer includes an anchor from another cluster
	// only once its seal time is this much older than the block time (the
	// paper's "passes the hash to another Cluster Head"). The default is 0:
	// a proposer keeps its own cluster's anchors first and takes the others
	// while AnchorCap allows. On a chain that makes blocks only for
	// transactions, each pass costs a block of its own (about 1 KB with 4
	// authorities, and a block interval of latency): measured with bench
	// e2e at 1,000 readings/s, 500 ms of passing made 84 blocks where 0 made
	// 60, and 4.3 bytes of chain per reading where 0 made 3.2. (Those runs'
	// 0 still passed on anchors sealed after the block's time, which is the
	// previous commit's: 0 now passes nothing on, and makes a block per
	// anchor plus CometBFT's proof block.)
	AnchorPassAfterMs int64 `cbor:"2,keyasint"`
	// SeqWindow is how many recent sequence numbers per signer are
	// remembered; older ones are refused as replays.
	SeqWindow uint32 `cbor:"3,keyasint"`
	// AuthorityPower is every authority's voting power.
	AuthorityPower int64 `cbor:"4,keyasint"`
	// HeadAbsentMs: once a Cluster Head's signature has been missing from
	// every decided commit for this long (block time), up to and including
	// the commit that the handover's own block carries, an
	// authority-eligible member of its cluster may take the cluster over
	// with a handover that nobody attests: the chain itself has seen the
	// head go. 0 turns this off (handovers then need attestations).
	HeadAbsentMs int64 `cbor:"5,keyasint,omitempty"`
	// HeadAbsentCommits: and only once its signature has been missing from
	// this many consecutive decided commits (at least 1, at most
	// MaxHeadAbsentCommits, when HeadAbsentMs is set). Counting commits as
	// well as time means that time without blocks makes nobody absent, and
	// more than 1 that one hostile proposer, which may leave any signature
	// beyond two thirds out of the commit it proposes, cannot make a live
	// head absent: the proposer rotation does not give it consecutive
	// heights while the others are up.
	HeadAbsentCommits uint32 `cbor:"6,keyasint,omitempty"`
	// Caps bound what one signer may put in one block, by its role, so
	// that no registered key fills blocks and delays the others' revokes
	// and anchors (see SignerCaps). Zero: DefaultCaps.
	Caps SignerCaps `cbor:"7,keyasint,omitempty"`
}

// MaxHeadAbsentCommits bounds Params.HeadAbsentCommits.
const MaxHeadAbsentCommits = 1000

// DefaultParams returns the parameters VitalChain uses unless genesis says otherwise.
func DefaultParams() Params {
	return Params{AnchorCap: 16, AnchorPassAfterMs: 0, SeqWindow: 64, AuthorityPower: 10, HeadAbsentMs: 5000, HeadAbsentCommits: 3, Caps: DefaultCaps()}
}

func (p Params) validate() error {
	if p.AnchorCap == 0 || p.SeqWindow == 0 || p.SeqWindow > 64 || p.AuthorityPower <= 0 || p.AnchorPassAfterMs < 0 || p.HeadAbsentMs < 0 {
		return fmt.Errorf("invalid params %+v", p)
	}
	if p.HeadAbsentCommits > MaxHeadAbsentCommits || (p.HeadAbsentMs > 0 && p.HeadAbsentCommits == 0) {
		return fmt.Errorf("invalid params: HeadAbsentCommits %d, want 1 to %d when HeadAbsentMs is set", p.HeadAbsentCommits, MaxHeadAbsentCommits)
	}
	return p.Caps.validate()
}

// Authority is a member of the validator set.
type Authority struct {
	ID        identity.ID `cbor:"1,keyasint"`
	Consensus []byte      `cbor:"2,keyasint"` // Ed25519 consensus public key
	Power     int64       `cbor:"3,keyasint"`
	// Joined is the height at whose end it joined the validator set (0 for
	// the genesis authorities): CometBFT has it sign from height Joined+2
	// on, so the commits that blocks up to Joined+2 carry cannot have its
	// signature, and its absence counts only after them.
	Joined int64 `cbor:"4,keyasint,omitempty"`
}

// Member is a registered actor.
type Member struct {
	Role       identity.Role  `cbor:"1,keyasint"`
	Verifying  []byte         `cbor:"2,keyasint"`
	Suite      identity.Suite `cbor:"3,keyasint,omitempty"`
	Encryption []byte         `cbor:"4,keyasint,omitempty"`
	Consensus  []byte         `cbor:"5,keyasint,omitempty"` // authorities only
	Cluster    uint32         `cbor:"6,keyasint"`
	Patient    []byte         `cbor:"7,keyasint,omitempty"` // devices and relation keys only: the patient's ID
	Height     int64          `cbor:"8,keyasint"`           // registered at
	// Home is the cluster that admitted the member (a device: its
	// patient's at binding). Migrate moves Cluster, never Home: a
	// patient's records stay in the custody of its home cluster's cloud.
	Home uint32 `cbor:"9,keyasint"`
	// Binding is a relation key's binding to its provider, sealed to its
	// patient (Register.Binding); nil for every other member.
	Binding []byte `cbor:"10,keyasint,omitempty"`
}

// IsRelation reports whether m is a provider's relation key: a provider
// bound to one patient (Register.IsRelation).
func (m *Member) IsRelation() bool { return m.Role == identity.RoleProvider && len(m.Patient) > 0 }

// ActsFor checks that m, a provider, may act for patient: any registered
// provider may (a patient may grant to a provider's registered key, and
// is then linkable to it), a relation key only for its own patient.
func (m *Member) ActsFor(patient identity.ID) error {
	if m.IsRelation() && !bytes.Equal(m.Patient, patient[:]) {
		return errorf(CodeUnauthorized, "provider %s is a relation key of another patient than %s", identity.ID(sha256Sum(m.Verifying)), patient)
	}
	return nil
}

// VerifyingKey returns the member's signing public key.
func (m *Member) VerifyingKey() (identity.VerifyingKey, error) {
	return identity.NewVerifyingKey(m.Role, m.Verifying)
}

// EncryptionKey returns the member's HPKE public key.
func (m *Member) EncryptionKey() (identity.EncryptionKey, error) {
	return identity.NewEncryptionKey(m.Role, m.Suite, m.Encryption)
}

// Cluster is a cluster of the overlay and its Cluster Head.
type Cluster struct {
	ID   uint32      `cbor:"1,keyasint"`
	Head identity.ID `cbor:"2,keyasint"`
	// Term counts the cluster's handovers. A handover's attestations sign
	// it (HandoverStatement), so that each is good for one handover only:
	// an attestation of a handover from A to B is worthless once the
	// cluster has gone from A to B, or anywhere, even if it comes back to A.
	Term uint64 `cbor:"3,keyasint,omitempty"`
}

// HandoverTo returns the statement that the authorities attest for a
// handover of the cluster, as it is now, to newHead.
func (c *Cluster) HandoverTo(newHead identity.ID) HandoverStatement {
	return HandoverStatement{Cluster: c.ID, OldHead: c.Head, NewHead: newHead, Term: c.Term}
}

// ContractRecord is a deployed alert contract: its parties and its terms
// sealed for them (Sealed.Open reads them, for a party).
type ContractRecord struct {
	Patient    identity.ID     `cbor:"1,keyasint"`
	Providers  []identity.ID   `cbor:"2,keyasint"`
	Sealed     contract.Sealed `cbor:"3,keyasint"`
	Active     bool            `cbor:"4,keyasint"`
	Height     int64           `cbor:"5,keyasint"` // deployed at
	EndHeight  int64           `cbor:"6,keyasint,omitempty"`
	TerminedBy []byte          `cbor:"7,keyasint,omitempty"`
}

// PatientState is a patient's key epoch, and whether its data was erased.
type PatientState struct {
	Epoch  uint64 `cbor:"1,keyasint"`           // the current epoch; 0 before the first session key
	Erased int64  `cbor:"2,keyasint,omitempty"` // the height of the patient's erasure; 0: not erased
}

// GrantRecord is a patient's grant to a provider. Its scope is not on the
// ledger: the provider holds the keys of its vital signs only (ScopePath).
type GrantRecord struct {
	Commands bool   `cbor:"2,keyasint"`           // the provider may command the patient's devices
	Expiry   int64  `cbor:"3,keyasint"`           // block time (Unix ms) at which it ends
	Epoch    uint64 `cbor:"4,keyasint"`           // the epoch whose keys it carries
	Height   int64  `cbor:"5,keyasint"`           // granted at
	Revoked  int64  `cbor:"6,keyasint,omitempty"` // revoked at this height; 0 while not revoked
}

// Active reports whether the grant is in force at block time now (Unix ms).
func (g *GrantRecord) Active(now int64) bool { return g.Revoked == 0 && now < g.Expiry }

// grantIndex lists the providers a patient has ever granted, ascending.
type grantIndex struct {
	Providers []identity.ID `cbor:"1,keyasint"`
}

// AnchorRecord is a cloud's anchored checkpoint.
type AnchorRecord struct {
	Checkpoint merklelog.Checkpoint `cbor:"1,keyasint"`
	Height     int64                `cbor:"2,keyasint"` // committed at
	Time       int64                `cbor:"3,keyasint"` // block time, Unix ms
	Sealed     int64                `cbor:"4,keyasint"` // the cloud's seal time, Unix ms
}

// AlertRecord is an alert's header as the ledger keeps it.
type AlertRecord struct {
	Contract [32]byte `cbor:"1,keyasint"`
	Time     int64    `cbor:"4,keyasint"`
	Height   int64    `cbor:"5,keyasint"`
	Cloud    []byte   `cbor:"6,keyasint,omitempty"` // the cloud that stores the record
}

// ProviderRecordEntry is a provider's record for a patient (transaction 3).
type ProviderRecordEntry struct {
	Provider identity.ID `cbor:"1,keyasint"`
	Envelope []byte      `cbor:"2,keyasint"`
	Height   int64       `cbor:"3,keyasint"`
}

// DeviceCommandRecord is the latest command sent to a device.
type DeviceCommandRecord struct {
	Provider identity.ID `cbor:"1,keyasint"`
	Command  string      `cbor:"2,keyasint"`
	Value    int64       `cbor:"3,keyasint"`
	Height   int64       `cbor:"4,keyasint"`
}

// seqWindow remembers a signer's highest sequence number and which of the
// 63 below it were used.
type seqWindow struct {
	Max  uint64 `cbor:"1,keyasint"`
	Bits uint64 `cbor:"2,keyasint"` // bit i: Max-1-i was used
}

// accept marks seq used, or says why it cannot be.
func (w *seqWindow) accept(seq uint64, window uint32) error {
	switch {
	case seq > w.Max:
		shift := seq - w.Max
		if shift >= 64 {
			w.Bits = 0
		} else {
			w.Bits = w.Bits<<shift | 1<<(shift-1)
		}
		if w.Max == 0 {
			w.Bits = 0
		}
		w.Max = seq
		return nil
	case seq == w.Max:
		return errorf(CodeReplay, "sequence number %d already used", seq)
	}
	d := w.Max - seq // ≥ 1
	if d >= uint64(window) {
		return errorf(CodeReplay, "sequence number %d too old (latest %d, window %d)", seq, w.Max, window)
	}
	bit := uint64(1) << (d - 1)
	if w.Bits&bit != 0 {
		return errorf(CodeReplay, "sequence number %d already used", seq)
	}
	w.Bits |= bit
	return nil
}

// errStore marks a failure of the store itself, which is not a rejection:
// the node must stop rather than diverge.
var errStore = errors.New("ledger store")

func getCBOR(st Store, k []byte, v any) (bool, error) {
	b, err := st.Get(k)
	if err != nil {
		return false, fmt.Errorf("%w: get %x: %w", errStore, k, err)
	}
	if b == nil {
		return false, nil
	}
	if err := codec.UnmarshalTrusted(b, v); err != nil {
		return false, fmt.Errorf("%w: corrupt value at %x: %v", errStore, k, err)
	}
	return true, nil
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func hexOf(b []byte) string { return hex.EncodeToString(b) }

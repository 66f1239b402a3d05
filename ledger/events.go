package ledger

import (
	"strconv"

	"github.com/vitalchain/vitalchain/identity"
)

// Event types: each successful transaction emits one event of its kind
// (a Vote that completes a change emits EventAuthorityChange too).
const (
	EventRegister           = "register"            // AttrID, AttrRole, AttrCluster, AttrPatient (a device's)
	EventMigrate            = "migrate"             // AttrID, AttrRole, AttrFrom, AttrTo, AttrDevice (each moved with a patient)
	EventContract           = "contract"            // AttrID, AttrPatient, AttrProvider (each)
	EventContractTerminated = "contract_terminated" // AttrID, AttrPatient
	EventSessionKey         = "session_key"         // AttrPatient, AttrEpoch
	EventGrant              = "grant"               // AttrPatient, AttrProvider, AttrEpoch, AttrExpiry
	EventRevoke             = "revoke"              // AttrPatient, AttrProvider, AttrEpoch (the new one)
	EventErase              = "erase"               // AttrPatient
	EventProviderRecord     = "provider_record"     // AttrPatient, AttrProvider, AttrRecord
	EventAnchor             = "anchor"              // AttrCloud, AttrLog, AttrSize, AttrRoot, AttrPrevSize
	EventAlert              = "alert"               // AttrPatient, AttrRecord, AttrContract, AttrProvider (each)
	EventDeviceCommand      = "device_command"      // AttrPatient, AttrDevice, AttrProvider, AttrCommand, AttrValue
	EventVote               = "vote"                // AttrCandidate, AttrAdd, AttrVoter, AttrVotes, AttrAuthorities
	EventAuthorityChange    = "authority_change"    // AttrID, AttrAdd
	EventHandover           = "handover"            // AttrCluster, AttrOldHead, AttrNewHead
)

// Attribute keys of events. IDs, records and roots are in hex; numbers in
// decimal; booleans "true" or "false".
const (
	AttrID          = "id"
	AttrRole        = "role"
	AttrCluster     = "cluster"
	AttrFrom        = "from"
	AttrTo          = "to"
	AttrPatient     = "patient"
	AttrProvider    = "provider"
	AttrDevice      = "device"
	AttrEpoch       = "epoch"
	AttrExpiry      = "expiry"
	AttrRecord      = "record"
	AttrContract    = "contract"
	AttrKind        = "kind"
	AttrSeverity    = "severity"
	AttrCloud       = "cloud"
	AttrLog         = "log"
	AttrSize        = "size"
	AttrRoot        = "root"
	AttrPrevSize    = "prev_size"
	AttrCommand     = "command"
	AttrValue       = "value"
	AttrCandidate   = "candidate"
	AttrAdd         = "add"
	AttrVoter       = "voter"
	AttrVotes       = "votes"
	AttrAuthorities = "authorities"
	AttrOldHead     = "old_head"
	AttrNewHead     = "new_head"
)

// Query path heads (see Query).
const (
	QueryMember      = "member"
	QuerySeq         = "seq"
	QueryAuthorities = "authorities"
	QueryPending     = "pending"
	QueryCluster     = "cluster"
	QueryHead        = "head"
	QueryParams      = "params"
	QueryContract    = "contract"
	QueryContracts   = "contracts"
	QueryEpoch       = "epoch"
	QueryEnvelope    = "envelope"
	QueryScope       = "scope"
	QueryGrant       = "grant"
	QueryGrants      = "grants"
	QueryAnchor      = "anchor"
	QueryAlert       = "alert"
	QueryRecord3     = "record3"
	QueryCommand     = "command"
	QueryAbsent      = "absent"
	QueryChainID     = "chain_id"
)

// Query paths, built as Query parses them.

// MemberPath is the path of a registered actor (Member).
func MemberPath(id identity.ID) string { return QueryMember + "/" + id.Hex() }

// SeqPath is the path of the highest sequence number a signer used (uint64).
func SeqPath(signer identity.ID) string { return QuerySeq + "/" + signer.Hex() }

// ClusterPath is the path of a cluster and its members (ClusterInfo).
func ClusterPath(n uint32) string { return QueryCluster + "/" + strconv.FormatUint(uint64(n), 10) }

// HeadPath is the path of a cluster alone, its head and term (Cluster):
// unlike ClusterPath, its answer is proved.
func HeadPath(n uint32) string { return QueryHead + "/" + strconv.FormatUint(uint64(n), 10) }

// ContractPath is the path of a deployed contract (ContractRecord).
func ContractPath(id [32]byte) string { return QueryContract + "/" + hexOf(id[:]) }

// ContractsPath is the path of a patient's contracts ([][32]byte).
func ContractsPath(patient identity.ID) string { return QueryContracts + "/" + patient.Hex() }

// EpochPath is the path of a patient's key state (PatientState).
func EpochPath(patient identity.ID) string { return QueryEpoch + "/" + patient.Hex() }

// EnvelopePath is the path of the envelope of a patient's epoch key for
// recipient ([]byte).
func EnvelopePath(patient identity.ID, epoch uint64, recipient identity.ID) string {
	return QueryEnvelope + "/" + patient.Hex() + "/" + strconv.FormatUint(epoch, 10) + "/" + recipient.Hex()
}

// ScopePath is the path of the sealed keys of a patient's epoch for a
// provider's scope ([]byte, envelope.OpenScope opens them).
func ScopePath(patient identity.ID, epoch uint64, provider identity.ID) string {
	return QueryScope + "/" + patient.Hex() + "/" + strconv.FormatUint(epoch, 10) + "/" + provider.Hex()
}

// GrantPath is the path of a patient's grant to a provider (GrantRecord).
func GrantPath(patient, provider identity.ID) string {
	return QueryGrant + "/" + patient.Hex() + "/" + provider.Hex()
}

// GrantsPath is the path of a patient's grants ([]GrantEntry).
func GrantsPath(patient identity.ID) string { return QueryGrants + "/" + patient.Hex() }

// AnchorPath is the path of a cloud's latest anchor of a log (AnchorRecord).
func AnchorPath(cloud identity.ID, log uint8) string {
	return QueryAnchor + "/" + cloud.Hex() + "/" + strconv.Itoa(int(log))
}

// AnchorAtPath is the path of a cloud's anchor of a log at a size (AnchorRecord).
func AnchorAtPath(cloud identity.ID, log uint8, size uint64) string {
	return AnchorPath(cloud, log) + "/" + strconv.FormatUint(size, 10)
}

// AlertPath is the path of an alert (AlertRecord).
func AlertPath(patient identity.ID, record [32]byte) string {
	return QueryAlert + "/" + patient.Hex() + "/" + hexOf(record[:])
}

// Record3Path is the path of the records providers sent a patient
// ([]ProviderRecordListing).
func Record3Path(patient identity.ID) string { return QueryRecord3 + "/" + patient.Hex() }

// CommandPath is the path of a device's last command (DeviceCommandRecord).
func CommandPath(device identity.ID) string { return QueryCommand + "/" + device.Hex() }

// AbsentPath is the path of an authority's absence from the decided
// commits (Absence): since when, and from how many in a row.
func AbsentPath(authority identity.ID) string { return QueryAbsent + "/" + authority.Hex() }

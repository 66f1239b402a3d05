// Package provider is a healthcare provider's side of VitalChain (the
// paper's "requester"): it receives the alerts a patient's contracts route
// to it, reads and verifies the records behind them end to end, sends a
// patient a record of its own (the paper's transaction 3) and commands a
// patient's devices.
//
// # One key per patient
//
// A provider deals with each patient under its relation key for that
// patient (package relation), derived from its own key: Bind makes the
// binding the patient's client verifies and registers, and from then on
// the patient's grants, scope keys and contracts name the relation key,
// and the provider signs its reads, alert polls, records and device
// commands for that patient with it, so that the chain does not link its
// patients. Follow polls under every relation key of the patients it
// knows (Bind, Config.Patients); Fetch signs with the key of the record's
// patient, known from its alert (FetchFor names it). A patient that
// granted the registered key directly is dealt with under that key.
//
// # Trust
//
// The provider trusts the ledger, and only the ledger. Everything the cloud
// hands it is checked against keys and checkpoints read from the chain:
//
//   - An alert is a record (header, ciphertext, the patient's signature,
//     record.SignContext) checked with the patient's key from the ledger,
//     and opened with the key of the provider's scope that its header's key
//     tag names: the vital sign and the severity are in the sealed payload,
//     not in the header the cloud sees. An alert that fails is counted
//     (Stats.AlertsForged) and never handled; one of a vital sign outside
//     the grant's scope (the cloud cannot tell, and alerts every provider
//     of the contract) is counted (Stats.AlertsOutOfScope) and dropped
//     quietly.
//   - A fetched record must be the one asked for (its ID is SHA-256 of its
//     header), carry the patient's valid signature, decrypt under the key
//     of its vital sign in its epoch (from the scope keys that the grant on
//     the ledger seals to this provider; none: ErrOutOfScope), and hold a
//     payload of that vital sign with a COSE_Sign1 reading signed by a
//     device registered on the ledger to that patient, of the payload's
//     vital sign and the header's patient and time. Otherwise ErrForged.
//   - Its inclusion proof must lead to the checkpoint the cloud served, and
//     a checkpoint the cloud says is anchored must be the very one the
//     ledger anchored for that cloud at that size. Otherwise ErrProof.
//
// A refusal by the cloud (no grant, a revoked or expired one…) is returned wrapped as the cloud's
// *cloudapi.RequestError, whose Code names it, and counted by that code in
// Stats.FetchRefused.
//
// # Following
//
// Follow long-polls the cloud for alerts (POST /v1/alerts) and hands them to
// the caller in record-log order, retrying with backoff while the cloud or
// the ledger is unreachable; a gap the cloud reports (alerts it no longer
// holds in memory) is logged and counted. FollowAnchors follows the
// ledger's anchors of the cloud's records log, so that a caller can tell
// which alerts are already covered by an anchored checkpoint.
//
// # Caches
//
// Members' keys (patients, devices) are cached for MemberTTL; session keys
// per (patient, epoch) for the life of the Provider, as an epoch's key never
// changes. Nothing secret or clinical is logged: only pseudonymous IDs,
// record IDs and reasons.
package provider

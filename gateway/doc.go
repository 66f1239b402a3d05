// Package gateway is a patient's edge node, the paper's "requestee": it
// receives the readings of the patient's wearables, decides which are
// abnormal under the patient's contracts, and sends those, sealed, to the
// cloud; it holds the patient's keys and performs the patient's
// transactions (1: a session key per epoch; 2: grants; revokes); and it
// relays to the wearables the commands providers send through the ledger.
//
// # One reading
//
// HandleReading takes one message as a wearable published it (a COSE_Sign1
// reading, package reading). It refuses, with a sentinel error and a count
// by reason: a message that does not parse (ErrMalformed); a device the
// ledger does not know as one of this patient's (ErrUnknownDevice); a bad
// signature (ErrBadSignature); a reading of another patient
// (ErrOtherPatient); a time more than MaxClockSkew ahead of the gateway's
// clock (ErrFuture); a sequence number not above the device's last
// (ErrReplay). HandleMessage, for MQTT, first checks that the topic names
// this patient and the device that signed the reading (ErrTopic).
// Sequence numbers are kept per device and saved every second, and at Close, so that a replay is refused across restarts too.
// A crash can forget the last second of them; a reading redelivered then is
// sealed again, but sealing is deterministic (record.SealDeterministic,
// the header's Seq derived from the device and its sequence number), so it
// is the same record, and the cloud acknowledges it as a duplicate.
//
// A good reading is evaluated by every active contract of the patient (a
// contract.Monitor each). A normal one goes no further. An abnormal one
// becomes one record per contract that found it abnormal: the signed
// reading, exactly as the device sent it, with its vital sign and the
// rule's severity, sealed (package record) under the current epoch's key
// of that vital sign (envelope.KindKey), with the contract in the cleartext
// header and no vital sign or severity. The header's Alert bit is false
// when the matching rule's cool-down withheld the alert: the cloud stores
// the record but alerts nobody. The record is durably in the outbox (package
// outbox) before HandleReading returns, so an MQTT transport that
// acknowledges after the handler returns loses nothing; an uploader sends
// the outbox to the cloud and retries while the cloud is down.
//
// # Keys and grants
//
// New recovers the current epoch's session key from its envelope on the
// ledger, or starts epoch 1 (transaction 1) for a patient who has none.
// Grant wraps the key to a provider (transaction 2). Revoke ends a grant and
// starts a new epoch in the same transaction, rewrapping the new key to
// every provider whose grant stays active; records sealed from then on use
// the new key, which the revoked provider never receives.
//
// # Device commands
//
// A provider commands a device through the ledger (ledger.DeviceCommand),
// which commits it only for a provider whose grant allows commands. The
// gateway follows the ledger's device_command events for its patient,
// checks the grant again, and sends the device a command.Command signed
// with the patient's key; the device checks that signature and that the
// command is newer than the last it applied (package wearable).
//
// # Files
//
// gateway.go starts and stops a gateway; patient.go, grants.go and
// records.go are the patient's keys, epochs and transactions (a Patient,
// usable without a running gateway); reading.go is the reading path;
// follow.go follows the ledger and relays device commands; seqs.go keeps
// the devices' sequence numbers.
package gateway

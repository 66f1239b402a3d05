package record

import (
	"fmt"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// ProviderRecord is the paper's transaction 3: the provider seals a new
// record for the patient under a fresh session key, and wraps that key to
// the patient in an envelope of kind ProviderRecord whose Subject is the
// record's ID. The record goes to the cloud; the envelope, with the
// record's ID, to the ledger.
//
// h gives the record's Time and Seq; Patient is filled in from patient (if
// set, it must match: ErrInvalidHeader), and Seal fills in the rest.
// Epoch, Contract, KeyTag and Alert must be zero. p gives the Kind (0 if
// the record is not about one vital sign), Severity and Body: like a
// patient's, a provider's record shows the cloud no vital sign.
func ProviderRecord(provider *identity.Identity, patient identity.Public, h Header, p Payload) (*Record, *envelope.Envelope, error) {
	if provider == nil || provider.Signing == nil {
		return nil, nil, fmt.Errorf("record: provider record: %w: no provider identity", identity.ErrBadKey)
	}
	if err := provider.Role().Want(identity.RoleProvider); err != nil {
		return nil, nil, fmt.Errorf("record: provider record: author: %w", err)
	}
	if err := patient.Role.Want(identity.RolePatient); err != nil {
		return nil, nil, fmt.Errorf("record: provider record: recipient: %w", err)
	}
	pid := patient.Verifying.ID()
	if h.Patient == (identity.ID{}) {
		h.Patient = pid
	} else if h.Patient != pid {
		return nil, nil, fmt.Errorf("record: provider record: %w: header names patient %s, recipient is %s", ErrInvalidHeader, h.Patient, pid)
	}
	key, err := envelope.NewSessionKey()
	if err != nil {
		return nil, nil, err
	}
	r, err := Seal(h, key, p, provider.Signing)
	if err != nil {
		return nil, nil, err
	}
	env, err := envelope.ProviderRecordEnvelope(provider, patient, r.ID(), key)
	if err != nil {
		return nil, nil, err
	}
	return r, env, nil
}

// OpenProviderRecord is the patient's side of transaction 3: it verifies
// the record against the provider's key (Record.Verify; the key must be a
// provider's, identity.ErrWrongRole), checks that it is for this patient
// (envelope.ErrContextMismatch), unwraps the record's key from env in the
// context the record implies (envelope's Unwrap errors) and decrypts
// (Record.Open), returning the header and the payload.
func OpenProviderRecord(r *Record, env *envelope.Envelope, patient *identity.Identity, provider identity.VerifyingKey) (Header, Payload, error) {
	if err := provider.Role().Want(identity.RoleProvider); err != nil {
		return Header{}, Payload{}, fmt.Errorf("record: open provider record: author: %w", err)
	}
	if patient == nil || patient.Signing == nil || patient.Decryption == nil {
		return Header{}, Payload{}, fmt.Errorf("record: open provider record: %w: no patient identity", identity.ErrBadKey)
	}
	h, err := r.Verify(provider)
	if err != nil {
		return Header{}, Payload{}, err
	}
	me := patient.ID()
	if h.Patient != me {
		return Header{}, Payload{}, fmt.Errorf("record: %w: record for patient %s, not %s", envelope.ErrContextMismatch, h.Patient, me)
	}
	want := envelope.ProviderRecordContext(me, h.Author, r.ID(), patient.Decryption.Suite())
	key, err := env.Unwrap(want, patient.Decryption, provider)
	if err != nil {
		return Header{}, Payload{}, err
	}
	pl, err := r.Open(key)
	if err != nil {
		return Header{}, Payload{}, err
	}
	return h, pl, nil
}

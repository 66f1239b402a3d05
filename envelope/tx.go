package envelope

import (
	"fmt"

	"github.com/vitalchain/vitalchain/identity"
)

// SelfEnvelope is transaction 1: it wraps the patient's session key of
// epoch to the patient's own encryption key.
func SelfEnvelope(patient *identity.Identity, epoch uint64, key SessionKey) (*Envelope, error) {
	if err := checkSender(patient, KindSelf); err != nil {
		return nil, err
	}
	to := patient.Decryption.Public()
	return signed(Wrap(SelfContext(patient.ID(), epoch, to.Suite()), key, to))(patient)
}

// signed signs a wrapped envelope as its sender.
func signed(e *Envelope, err error) func(*identity.Identity) (*Envelope, error) {
	return func(sender *identity.Identity) (*Envelope, error) {
		if err != nil {
			return nil, err
		}
		return e, e.Sign(sender.Signing)
	}
}

// GrantEnvelope is transaction 2: it wraps the patient's session key of
// epoch to the provider's encryption key.
func GrantEnvelope(patient *identity.Identity, provider identity.Public, epoch uint64, key SessionKey) (*Envelope, error) {
	if err := checkSender(patient, KindGrant); err != nil {
		return nil, err
	}
	if err := checkRecipient(provider, KindGrant); err != nil {
		return nil, err
	}
	ctx := GrantContext(patient.ID(), provider.Verifying.ID(), epoch, provider.Encryption.Suite())
	return signed(Wrap(ctx, key, provider.Encryption))(patient)
}

// ProviderRecordEnvelope is the key half of transaction 3: it wraps the
// fresh session key of the provider's record recordID (record.Record.ID) to
// the patient's encryption key. record.ProviderRecord seals the record and
// calls it.
func ProviderRecordEnvelope(provider *identity.Identity, patient identity.Public, recordID [32]byte, key SessionKey) (*Envelope, error) {
	if err := checkSender(provider, KindProviderRecord); err != nil {
		return nil, err
	}
	if err := checkRecipient(patient, KindProviderRecord); err != nil {
		return nil, err
	}
	ctx := ProviderRecordContext(patient.Verifying.ID(), provider.ID(), recordID, patient.Encryption.Suite())
	return signed(Wrap(ctx, key, patient.Encryption))(provider)
}

// ContractEnvelope wraps a contract's terms key (see package contract's
// Seal) to one of its parties: the patient itself or a provider;
// commitment is the contract's ID.
func ContractEnvelope(patient *identity.Identity, to identity.Public, commitment [32]byte, key SessionKey) (*Envelope, error) {
	if err := checkSender(patient, KindContract); err != nil {
		return nil, err
	}
	if err := checkRecipient(to, KindContract); err != nil {
		return nil, err
	}
	ctx := ContractContext(patient.ID(), to.Verifying.ID(), commitment, to.Encryption.Suite())
	return signed(Wrap(ctx, key, to.Encryption))(patient)
}

func checkSender(id *identity.Identity, k Kind) error {
	if id == nil || id.Signing == nil {
		return fmt.Errorf("envelope: %s envelope: %w: no sender identity", k, identity.ErrBadKey)
	}
	if err := id.Role().Want(k.SenderRole()); err != nil {
		return fmt.Errorf("envelope: %s envelope: sender: %w", k, err)
	}
	if k == KindSelf && id.Decryption == nil {
		return fmt.Errorf("envelope: %s envelope: %w: patient has no decryption key", k, identity.ErrBadKey)
	}
	return nil
}

func checkRecipient(p identity.Public, k Kind) error {
	if !k.RecipientRoleOK(p.Role) {
		return fmt.Errorf("envelope: %s envelope: recipient: %w: a %s", k, identity.ErrWrongRole, p.Role)
	}
	if err := p.Verifying.Role().Want(p.Role); err != nil {
		return fmt.Errorf("envelope: %s envelope: recipient signing key: %w", k, err)
	}
	if p.Encryption.IsZero() {
		return fmt.Errorf("envelope: %s envelope: %w: recipient has no encryption key", k, identity.ErrBadKey)
	}
	return nil
}

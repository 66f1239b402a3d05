package ledger

import (
	"slices"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// Acceptance is a provider's signature over a contract's commitment
// (context "contract-accept/v2", message the commitment, the contract's
// ID): the provider accepts terms it has read and checked against the
// commitment, which the ledger cannot read.
type Acceptance struct {
	Provider identity.ID `cbor:"1,keyasint"`
	Sig      []byte      `cbor:"2,keyasint"`
}

const acceptContext = "contract-accept/v2"

// Accept returns provider's acceptance of terms, which the patient sealed
// with salt: the provider computes the commitment itself.
func Accept(provider *identity.SigningKey, terms *contract.Terms, salt [contract.SaltSize]byte) (Acceptance, error) {
	c, err := terms.Commit(salt)
	if err != nil {
		return Acceptance{}, err
	}
	return Acceptance{Provider: provider.Public().ID(), Sig: provider.SignContext(acceptContext, c[:])}, nil
}

// DeployContract deploys an alert contract: signed by its patient, accepted
// by each of its providers. The chain holds who the parties are and the
// terms sealed for them (contract.Sealed), never the terms themselves: no
// vital sign, threshold, severity or name. Its ID is the commitment.
type DeployContract struct {
	Providers   []identity.ID   `cbor:"1,keyasint"` // ascending, unique, 1 to contract.MaxProviders
	Sealed      contract.Sealed `cbor:"2,keyasint"`
	Acceptances []Acceptance    `cbor:"3,keyasint"` // one per provider, in the order of Providers
}

// NewDeployContract seals terms for the patient and its providers and
// collects each provider's acceptance (providers: their identities, in any
// order, the contract's parties), as a patient does with providers that
// read the terms and the salt off the ledger.
func NewDeployContract(patient *identity.Identity, terms contract.Terms, providers ...*identity.Identity) (*DeployContract, error) {
	pubs := make([]identity.Public, len(providers))
	for i, p := range providers {
		pubs[i] = p.Public()
	}
	sealed, salt, err := contract.Seal(patient, pubs, terms)
	if err != nil {
		return nil, err
	}
	d := &DeployContract{Providers: terms.Providers, Sealed: *sealed}
	for _, id := range terms.Providers {
		i := slices.IndexFunc(providers, func(p *identity.Identity) bool { return p.ID() == id })
		a, err := Accept(providers[i].Signing, &terms, salt)
		if err != nil {
			return nil, err
		}
		d.Acceptances = append(d.Acceptances, a)
	}
	return d, nil
}

// ID returns the contract's ID: its commitment.
func (c *DeployContract) ID() [32]byte { return c.Sealed.Commitment }

// TxType implements Body.
func (*DeployContract) TxType() Type { return TypeDeployContract }

func (c *DeployContract) check(d *Decoded) error {
	patient := d.Tx.SignerID()
	if err := contract.CheckProviders(patient, c.Providers); err != nil {
		return wrap(CodeMalformed, "contract", err)
	}
	if c.Sealed.Commitment == ([32]byte{}) {
		return errorf(CodeMalformed, "contract without a commitment")
	}
	if n := len(c.Sealed.Ciphertext); n == 0 || n > contract.MaxSealedSize {
		return errorf(CodeMalformed, "sealed terms of %d bytes, want 1 to %d", n, contract.MaxSealedSize)
	}
	if len(c.Sealed.Envelopes) != 1+len(c.Providers) {
		return errorf(CodeMalformed, "contract has %d parties but %d envelopes", 1+len(c.Providers), len(c.Sealed.Envelopes))
	}
	for i, b := range c.Sealed.Envelopes {
		to := patient
		if i > 0 {
			to = c.Providers[i-1]
		}
		if err := checkEnvelope(b, envelope.KindContract, patient, 0, patient, to, c.Sealed.Commitment); err != nil {
			return err
		}
	}
	if len(c.Acceptances) != len(c.Providers) {
		return errorf(CodeUnauthorized, "contract has %d providers but %d acceptances", len(c.Providers), len(c.Acceptances))
	}
	for i, a := range c.Acceptances {
		if a.Provider != c.Providers[i] {
			return errorf(CodeMalformed, "acceptance %d is from %s, not provider %s", i, a.Provider, c.Providers[i])
		}
	}
	return nil
}

func (c *DeployContract) apply(x *exec, d *Decoded) error {
	pm, err := x.signer(d, identity.RolePatient)
	if err != nil {
		return err
	}
	id := c.Sealed.Commitment
	if ok, err := x.has(key(pContract, id[:])); err != nil || ok {
		if ok {
			return errorf(CodeDuplicate, "contract %x is already deployed", id[:8])
		}
		return err
	}
	if err := envelopeSuite(c.Sealed.Envelopes[0], pm); err != nil {
		return err
	}
	for i, a := range c.Acceptances {
		p, err := x.member(a.Provider, "provider")
		if err != nil {
			return err
		}
		if p.Role != identity.RoleProvider {
			return errorf(CodeWrongRole, "contract party %s is a %s, not a provider", a.Provider, p.Role)
		}
		if err := p.ActsFor(d.Tx.SignerID()); err != nil {
			return err
		}
		if err := identity.VerifyContext(p.Verifying, acceptContext, id[:], a.Sig); err != nil {
			return wrap(CodeBadSignature, "acceptance of provider "+a.Provider.String(), err)
		}
		if err := envelopeSuite(c.Sealed.Envelopes[i+1], p); err != nil {
			return err
		}
	}
	patient := d.Tx.SignerID()
	rec := ContractRecord{Patient: patient, Providers: c.Providers, Sealed: c.Sealed, Active: true, Height: x.height}
	if err := x.put(key(pContract, id[:]), &rec); err != nil {
		return err
	}
	x.putRaw(key(pPatientK, patient[:], id[:]), nil)
	attrs := []Attr{{AttrID, hexOf(id[:])}, {AttrPatient, patient.Hex()}}
	for _, p := range c.Providers {
		attrs = append(attrs, Attr{AttrProvider, p.Hex()})
	}
	x.emit(EventContract, attrs...)
	return nil
}

// TerminateContract ends a contract; its patient or any of its providers may.
type TerminateContract struct {
	ID [32]byte `cbor:"1,keyasint"`
}

// TxType implements Body.
func (*TerminateContract) TxType() Type { return TypeTerminateContract }

func (c *TerminateContract) check(*Decoded) error { return nil }

func (c *TerminateContract) apply(x *exec, d *Decoded) error {
	if _, err := x.signer(d, identity.RolePatient, identity.RoleProvider); err != nil {
		return err
	}
	var rec ContractRecord
	ok, err := x.get(key(pContract, c.ID[:]), &rec)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeNotFound, "contract %x does not exist", c.ID[:8])
	}
	if !rec.Active {
		return errorf(CodeInvalid, "contract %x is already terminated", c.ID[:8])
	}
	who := d.Tx.SignerID()
	if who != rec.Patient && !slices.Contains(rec.Providers, who) {
		return errorf(CodeUnauthorized, "only a party to contract %x may terminate it", c.ID[:8])
	}
	rec.Active, rec.EndHeight, rec.TerminedBy = false, x.height, who[:]
	if err := x.put(key(pContract, c.ID[:]), &rec); err != nil {
		return err
	}
	x.emit(EventContractTerminated, Attr{AttrID, hexOf(c.ID[:])}, Attr{AttrPatient, rec.Patient.Hex()})
	return nil
}

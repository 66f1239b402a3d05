package ledger

import (
	"slices"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
)

// Acceptance is a provider's signature over a contract's terms (context
// "contract-accept/v1", message Terms.Hash()).
type Acceptance struct {
	Provider identity.ID `cbor:"1,keyasint"`
	Sig      []byte      `cbor:"2,keyasint"`
}

const acceptContext = "contract-accept/v1"

// Accept returns provider's acceptance of terms.
func Accept(provider *identity.SigningKey, terms *contract.Terms) (Acceptance, error) {
	h, err := terms.Hash()
	if err != nil {
		return Acceptance{}, err
	}
	return Acceptance{Provider: provider.Public().ID(), Sig: provider.SignContext(acceptContext, h[:])}, nil
}

// DeployContract deploys an alert contract: signed by its patient, accepted
// by each of its providers. Its ID is the hash of its terms.
type DeployContract struct {
	Terms       contract.Terms `cbor:"1,keyasint"`
	Acceptances []Acceptance   `cbor:"2,keyasint"` // one per provider, in the order of Terms.Providers
}

// TxType implements Body.
func (*DeployContract) TxType() Type { return TypeDeployContract }

func (c *DeployContract) check(d *Decoded) error {
	if err := c.Terms.Validate(); err != nil {
		return wrap(CodeMalformed, "contract terms", err)
	}
	if c.Terms.Patient != d.Tx.SignerID() {
		return errorf(CodeUnauthorized, "a contract is deployed by its patient")
	}
	if len(c.Acceptances) != len(c.Terms.Providers) {
		return errorf(CodeUnauthorized, "contract has %d providers but %d acceptances", len(c.Terms.Providers), len(c.Acceptances))
	}
	for i, a := range c.Acceptances {
		if a.Provider != c.Terms.Providers[i] {
			return errorf(CodeMalformed, "acceptance %d is from %s, not provider %s", i, a.Provider, c.Terms.Providers[i])
		}
	}
	if _, err := contract.Compile(c.Terms.Rules); err != nil {
		return wrap(CodeContract, "contract rules", err)
	}
	return nil
}

func (c *DeployContract) apply(x *exec, d *Decoded) error {
	if _, err := x.signer(d, identity.RolePatient); err != nil {
		return err
	}
	id, err := c.Terms.Hash()
	if err != nil {
		return wrap(CodeMalformed, "contract terms", err)
	}
	if ok, err := x.has(key(pContract, id[:])); err != nil || ok {
		if ok {
			return errorf(CodeDuplicate, "contract %x is already deployed", id[:8])
		}
		return err
	}
	for _, a := range c.Acceptances {
		p, err := x.member(a.Provider, "provider")
		if err != nil {
			return err
		}
		if p.Role != identity.RoleProvider {
			return errorf(CodeWrongRole, "contract party %s is a %s, not a provider", a.Provider, p.Role)
		}
		if err := identity.VerifyContext(p.Verifying, acceptContext, id[:], a.Sig); err != nil {
			return wrap(CodeBadSignature, "acceptance of provider "+a.Provider.String(), err)
		}
	}
	rec := ContractRecord{Terms: c.Terms, Active: true, Height: x.height}
	if err := x.put(key(pContract, id[:]), &rec); err != nil {
		return err
	}
	x.putRaw(key(pPatientK, c.Terms.Patient[:], id[:]), nil)
	attrs := []Attr{{AttrID, hexOf(id[:])}, {AttrPatient, c.Terms.Patient.Hex()}}
	for _, p := range c.Terms.Providers {
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
	if who != rec.Terms.Patient && !slices.Contains(rec.Terms.Providers, who) {
		return errorf(CodeUnauthorized, "only a party to contract %x may terminate it", c.ID[:8])
	}
	rec.Active, rec.EndHeight, rec.TerminedBy = false, x.height, who[:]
	if err := x.put(key(pContract, c.ID[:]), &rec); err != nil {
		return err
	}
	x.emit(EventContractTerminated, Attr{AttrID, hexOf(c.ID[:])}, Attr{AttrPatient, rec.Terms.Patient.Hex()})
	return nil
}

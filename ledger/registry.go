package ledger

import (
	"bytes"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// MemberKeys are an actor's public keys as registered.
type MemberKeys struct {
	Role       identity.Role  `cbor:"1,keyasint"`
	Verifying  []byte         `cbor:"2,keyasint"`
	Suite      identity.Suite `cbor:"3,keyasint,omitempty"`
	Encryption []byte         `cbor:"4,keyasint,omitempty"`
	Consensus  []byte         `cbor:"5,keyasint,omitempty"` // authorities only
}

// KeysOf returns the registrable keys of a public identity; consensus is the
// Ed25519 consensus key of an authority, nil for other roles.
func KeysOf(p identity.Public, consensus []byte) MemberKeys {
	k := MemberKeys{Role: p.Role, Verifying: p.Verifying.Bytes(), Consensus: consensus}
	if !p.Encryption.IsZero() {
		k.Suite, k.Encryption = p.Encryption.Suite(), p.Encryption.Bytes()
	}
	return k
}

func (k *MemberKeys) check() error {
	if !k.Role.Valid() {
		return errorf(CodeMalformed, "unknown role %d", k.Role)
	}
	if _, err := identity.NewVerifyingKey(k.Role, k.Verifying); err != nil {
		return wrap(CodeMalformed, "member signing key", err)
	}
	if err := identity.CheckPublicKey(k.Verifying); err != nil {
		return wrap(CodeMalformed, "member signing key", err)
	}
	if k.Role.Receives() {
		if _, err := identity.NewEncryptionKey(k.Role, k.Suite, k.Encryption); err != nil {
			return wrap(CodeMalformed, "member encryption key", err)
		}
	} else if k.Suite != 0 || len(k.Encryption) != 0 {
		return errorf(CodeMalformed, "a %s has no encryption key", k.Role)
	}
	if k.Role == identity.RoleAuthority {
		if len(k.Consensus) != 32 {
			return errorf(CodeMalformed, "an authority needs a 32-byte consensus key, got %d bytes", len(k.Consensus))
		}
		if err := identity.CheckPublicKey(k.Consensus); err != nil {
			return wrap(CodeMalformed, "authority consensus key", err)
		}
	} else if len(k.Consensus) != 0 {
		return errorf(CodeMalformed, "a %s has no consensus key", k.Role)
	}
	return nil
}

// Register admits an actor. A device is bound to its patient by the patient;
// so is a provider's relation key (package relation: the key under which one
// provider appears in one patient's care team, and nowhere else), which
// carries its Binding sealed to the patient; any other actor is admitted to
// a cluster by that cluster's Cluster Head. Proof is the new member's own
// signature over the registration (context "register/v1", Binding left
// out), so that nobody registers a key they do not hold.
type Register struct {
	Member  MemberKeys  `cbor:"1,keyasint"`
	Cluster uint32      `cbor:"2,keyasint"`
	Patient identity.ID `cbor:"3,keyasint"` // devices and relation keys: their patient; zero otherwise
	Proof   []byte      `cbor:"4,keyasint,omitempty"`
	// Binding is a relation key's binding to its provider, sealed to the
	// patient (relation.Seal): only the patient's key opens it, so the
	// chain does not say whose relation key it is. The ledger bounds its
	// size and reads nothing else of it.
	Binding []byte `cbor:"5,keyasint,omitempty"`
}

// MaxBindingSize bounds a relation key's sealed binding (a hybrid one is
// about 2.5 KiB).
const MaxBindingSize = 4 << 10

// IsRelation reports whether r registers a provider's relation key.
func (r *Register) IsRelation() bool {
	return r.Member.Role == identity.RoleProvider && r.Patient != identity.ID{}
}

// NewRegister returns the registration of member in cluster (a device:
// bound to patient, cluster 0), with member's proof of possession; consensus
// is an authority's Ed25519 consensus key, nil for other roles.
func NewRegister(member *identity.Identity, cluster uint32, patient identity.ID, consensus []byte) (*Register, error) {
	r := &Register{Member: KeysOf(member.Public(), consensus), Cluster: cluster}
	if member.Role() == identity.RoleDevice {
		r.Cluster, r.Patient = 0, patient
	}
	return r, r.Prove(member.Signing)
}

// TxType implements Body.
func (*Register) TxType() Type { return TypeRegister }

const registerContext = "register/v1"

// ProofMessage returns the bytes the new member signs for Proof.
func (r *Register) ProofMessage() ([]byte, error) {
	c := *r
	c.Proof, c.Binding = nil, nil
	return codec.Marshal(&c)
}

// Prove fills Proof with the new member's signature.
func (r *Register) Prove(member *identity.SigningKey) error {
	msg, err := r.ProofMessage()
	if err != nil {
		return err
	}
	r.Proof = member.SignContext(registerContext, msg)
	return nil
}

func (r *Register) check(d *Decoded) error {
	if err := r.Member.check(); err != nil {
		return err
	}
	isDevice := r.Member.Role == identity.RoleDevice
	bound := r.Patient != identity.ID{}
	if isDevice != bound && !r.IsRelation() {
		return errorf(CodeMalformed, "a device, and only a device or a provider's relation key, names its patient")
	}
	if bound && d.Tx.SignerID() != r.Patient {
		return errorf(CodeUnauthorized, "a %s bound to a patient is registered by its own patient", r.Member.Role)
	}
	if r.IsRelation() {
		if r.Cluster != 0 {
			return errorf(CodeMalformed, "a relation key names no cluster (it is its patient's), got %d", r.Cluster)
		}
		if n := len(r.Binding); n == 0 || n > MaxBindingSize {
			return errorf(CodeMalformed, "a relation key's sealed binding of %d bytes, want 1 to %d", n, MaxBindingSize)
		}
	} else if len(r.Binding) != 0 {
		return errorf(CodeMalformed, "a %s registration with a binding: only a provider's relation key has one", r.Member.Role)
	}
	if bytes.Equal(d.Tx.Signer, r.Member.Verifying) {
		return errorf(CodeUnauthorized, "a member cannot admit itself")
	}
	return r.VerifyProof()
}

// VerifyProof checks Proof, the new member's signature over the
// registration (CodeMalformed, CodeBadSignature).
func (r *Register) VerifyProof() error {
	msg, err := r.ProofMessage()
	if err != nil {
		return wrap(CodeMalformed, "register", err)
	}
	if err := identity.VerifyContext(r.Member.Verifying, registerContext, msg, r.Proof); err != nil {
		return wrap(CodeBadSignature, "new member's proof of possession", err)
	}
	return nil
}

// Check checks the registered keys' form (CodeMalformed).
func (k *MemberKeys) Check() error { return k.check() }

func (r *Register) apply(x *exec, d *Decoded) error {
	id := identity.ID(sha256Sum(r.Member.Verifying))
	if ok, err := x.has(key(pMember, id[:])); err != nil || ok {
		if ok {
			return errorf(CodeDuplicate, "member %s is already registered", id)
		}
		return err
	}
	cluster := r.Cluster
	if r.Member.Role == identity.RoleDevice || r.IsRelation() {
		p, err := x.signer(d, identity.RolePatient)
		if err != nil {
			return err
		}
		cluster = p.Cluster
	} else {
		if _, err := x.signer(d, identity.RoleAuthority); err != nil {
			return err
		}
		var c Cluster
		ok, err := x.get(key(pCluster, be32(r.Cluster)), &c)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(CodeNotFound, "cluster %d does not exist", r.Cluster)
		}
		if c.Head != d.Tx.SignerID() {
			return errorf(CodeUnauthorized, "only cluster %d's head admits members to it", r.Cluster)
		}
	}
	m := Member{
		Role: r.Member.Role, Verifying: r.Member.Verifying, Suite: r.Member.Suite,
		Encryption: r.Member.Encryption, Consensus: r.Member.Consensus,
		Cluster: cluster, Home: cluster, Height: x.height,
	}
	if r.Patient != (identity.ID{}) {
		m.Patient = r.Patient[:]
	}
	if r.IsRelation() {
		// Not listed under the cluster: a relation key is no node of the
		// overlay, and acts only for its patient.
		m.Binding = r.Binding
		if err := x.put(key(pMember, id[:]), &m); err != nil {
			return err
		}
	} else if err := x.addMember(id, &m); err != nil {
		return err
	}
	attrs := []Attr{{AttrID, id.Hex()}, {AttrRole, m.Role.String()}, {AttrCluster, itoa(int64(cluster))}}
	if r.Patient != (identity.ID{}) {
		attrs = append(attrs, Attr{AttrPatient, r.Patient.Hex()})
	}
	x.emit(EventRegister, attrs...)
	return nil
}

// addMember stores a member and lists it under its cluster: the Cluster
// Head's requesters (providers), requestees (patients) and the rest.
func (x *exec) addMember(id identity.ID, m *Member) error {
	if err := x.put(key(pMember, id[:]), m); err != nil {
		return err
	}
	x.putRaw(key(pClusterMem, be32(m.Cluster), []byte{byte(m.Role)}, id[:]), nil)
	return nil
}

package ledger

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// sample is a set of actors and one statelessly valid transaction of every
// type, for Decode's tests and FuzzDecode's seeds.
type sample struct {
	auth, auth2, patient, provider, cloud, device *identity.Identity
	txs                                           map[Type][]byte
	bodies                                        map[Type]Body
	signers                                       map[Type]*identity.SigningKey
}

var (
	sampleOnce sync.Once
	sampled    *sample
)

// samples returns the shared sample (built once: it compiles a contract).
func samples(t testing.TB) *sample {
	t.Helper()
	sampleOnce.Do(func() { sampled = newSample(t) })
	if sampled == nil {
		t.Fatal("sample construction failed")
	}
	return sampled
}

func newSample(t testing.TB) *sample {
	s := &sample{
		auth:     mustIdentity(t, identity.RoleAuthority),
		auth2:    mustIdentity(t, identity.RoleAuthority),
		patient:  mustIdentity(t, identity.RolePatient),
		provider: mustIdentity(t, identity.RoleProvider),
		cloud:    mustIdentity(t, identity.RoleCloud),
		device:   mustIdentity(t, identity.RoleDevice),
		txs:      map[Type][]byte{}, bodies: map[Type]Body{}, signers: map[Type]*identity.SigningKey{},
	}
	reg := &Register{Member: KeysOf(s.patient.Public(), nil), Cluster: 1}
	if err := reg.Prove(s.patient.Signing); err != nil {
		t.Fatal(err)
	}
	tm := terms(s.patient.ID(), []contract.Rule{glucoseRule}, s.provider.ID())
	cid := contractID(t, tm)
	k1, k2 := newSessionKey(t), newSessionKey(t)
	rec := [32]byte{1, 2, 3}
	pr, err := envelope.ProviderRecordEnvelope(s.provider, s.patient.Public(), rec, k1)
	rev, rerr := envelope.SelfEnvelope(s.patient, 2, k2)
	att, aerr := Attest(s.auth.Signing, HandoverStatement{Cluster: 1, OldHead: s.auth.ID(), NewHead: s.auth2.ID()})
	if aerr != nil {
		t.Fatal(aerr)
	}
	add := func(signer *identity.Identity, b Body) {
		s.bodies[b.TxType()] = b
		s.signers[b.TxType()] = signer.Signing
		tx, err := NewTx(testChainID, signer.Signing, 7, b)
		if err != nil {
			t.Fatal(err)
		}
		s.txs[b.TxType()] = tx
	}
	add(s.auth, reg)
	add(s.patient, deployBody(t, s.patient, tm, s.provider))
	add(s.provider, &TerminateContract{ID: cid})
	add(s.patient, sessionKeyBody(t, s.patient, 1, k1))
	add(s.patient, grantBody(t, s.patient, s.provider, 1, k1, true, genesisTime.Add(24*3600e9).UnixMilli()))
	add(s.patient, &Revoke{Provider: s.provider.ID(), NewEpoch: 2, SelfEnvelope: envBytes(t, rev, rerr)})
	add(s.provider, &ProviderRecord{Patient: s.patient.ID(), RecordID: rec, Envelope: envBytes(t, pr, err)})
	add(s.cloud, &Anchor{Log: LogRecords, Checkpoint: merklelog.Checkpoint{Size: 1, Root: merklelog.HashLeaf([]byte("r"))}, Sealed: 1})
	add(s.cloud, &Alert{Patient: s.patient.ID(), Contract: cid, RecordID: rec, Time: 1})
	add(s.provider, &DeviceCommand{Device: s.device.ID(), Command: "sampling_interval_ms", Value: 60_000})
	add(s.auth, &Vote{Candidate: s.auth2.ID(), Add: true})
	add(s.auth2, &Handover{Cluster: 1, NewHead: s.auth2.ID(), Attestations: []Attestation{att}})
	add(s.patient, &Migrate{Cluster: 2, Devices: []identity.ID{s.device.ID()}})
	add(s.patient, &Erase{})
	return s
}

// signTx signs tx (whatever its fields) by key and encodes it.
func signTx(t testing.TB, key *identity.SigningKey, tx Tx) []byte {
	t.Helper()
	tx.Sig = nil
	msg, err := tx.signedBytes()
	if err != nil {
		t.Fatal(err)
	}
	tx.Sig = key.SignContext(txContext, msg)
	b, err := codec.Marshal(&tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawTx builds a transaction of typ with the given body bytes, signed by key.
func rawTx(t testing.TB, key *identity.SigningKey, typ Type, body []byte) []byte {
	return signTx(t, key, Tx{Version: TxVersion, Type: typ, Signer: key.Public().Bytes(), Seq: 1, Body: body, ChainID: testChainID})
}

func decodeTx(t testing.TB, b []byte) Tx {
	t.Helper()
	var tx Tx
	if err := codec.Unmarshal(b, &tx); err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestDecodeEveryType(t *testing.T) {
	s := samples(t)
	for typ := Type(1); typ.Valid(); typ++ {
		b, ok := s.txs[typ]
		if !ok {
			t.Fatalf("no sample of %s", typ)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if d.Tx.Type != typ || d.Body.TxType() != typ || d.Tx.Seq != 7 || d.Hash != Hash(b) {
			t.Errorf("%s: decoded %+v", typ, d.Tx)
		}
		if d.Tx.SignerID() != s.signers[typ].Public().ID() {
			t.Errorf("%s: signer ID", typ)
		}
		again, err := codec.Marshal(&d.Tx)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding differs: %v", typ, err)
		}
		body, err := codec.Marshal(d.Body)
		if err != nil || !bytes.Equal(body, d.Tx.Body) {
			t.Errorf("%s: body re-encoding differs: %v", typ, err)
		}
	}
	if got := Type(0).String(); got != "type(0)" {
		t.Errorf("Type(0).String() = %q", got)
	}
	if got := TypeHandover.String(); got != "handover" {
		t.Errorf("TypeHandover.String() = %q", got)
	}
	if Type(15).Valid() || Type(0).Valid() {
		t.Error("types 0 and 15 are valid")
	}
}

func TestDecodeRejects(t *testing.T) {
	s := samples(t)
	key := s.patient.Signing
	vote := s.txs[TypeVote]
	voteTx := decodeTx(t, vote)
	voteBody := voteTx.Body
	anchorBody := decodeTx(t, s.txs[TypeAnchor]).Body

	// A Vote body whose Add (key 2) is encoded as a non-minimal integer key
	// 0x18 0x02 instead of 0x02: the same value, a second encoding.
	nonCanonical := bytes.Clone(voteBody)
	if i := bytes.LastIndexByte(nonCanonical, 0x02); i < 0 {
		t.Fatal("no key 2 in vote body")
	} else {
		nonCanonical = append(nonCanonical[:i:i], append([]byte{0x18, 0x02}, nonCanonical[i+1:]...)...)
	}
	var v Vote
	if err := codec.Unmarshal(nonCanonical, &v); !errors.Is(err, codec.ErrNotCanonical) {
		t.Fatalf("test body is not merely non-canonical: %v", err)
	}

	tamperedBody := voteTx
	tamperedBody.Body = bytes.Clone(voteBody)
	tamperedBody.Body[len(tamperedBody.Body)-1] ^= 1 // true <-> false... 0xf5^1 = 0xf4
	tamperedSigner := voteTx
	tamperedSigner.Signer = s.auth2.Signing.Public().Bytes()
	shortSigner := voteTx
	shortSigner.Signer = voteTx.Signer[:31]
	unsigned := voteTx
	unsigned.Sig = nil
	shortSig := voteTx
	shortSig.Sig = voteTx.Sig[:63]
	enc := func(tx Tx) []byte {
		b, err := codec.Marshal(&tx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	tests := []struct {
		name string
		tx   []byte
		code Code
		is   error // also matched, if set
	}{
		{"empty", nil, CodeMalformed, codec.ErrMalformed},
		{"garbage", []byte{0xff, 0x00, 0x13}, CodeMalformed, nil},
		{"not a map", []byte{0x01}, CodeMalformed, codec.ErrWrongType},
		{"truncated", vote[:len(vote)-5], CodeMalformed, codec.ErrTruncated},
		{"trailing", append(bytes.Clone(vote), 0), CodeMalformed, codec.ErrTrailingData},
		{"too large", make([]byte, MaxTxSize+1), CodeTooLarge, nil},
		{"unknown field", unknownField(t, vote), CodeMalformed, codec.ErrUnknownField},
		{"version 0", signTx(t, key, Tx{Version: 0, Type: TypeVote, Signer: key.Public().Bytes(), Seq: 1, Body: voteBody, ChainID: testChainID}), CodeUnknownVersion, codec.ErrUnknownVersion},
		{"version 1, which signed no chain ID", signTx(t, key, Tx{Version: 1, Type: TypeVote, Signer: key.Public().Bytes(), Seq: 1, Body: voteBody}), CodeUnknownVersion, codec.ErrUnknownVersion},
		{"version 2, whose contracts were in cleartext", signTx(t, key, Tx{Version: 2, Type: TypeVote, Signer: key.Public().Bytes(), Seq: 1, Body: voteBody, ChainID: testChainID}), CodeUnknownVersion, codec.ErrUnknownVersion},
		{"version 4", signTx(t, key, Tx{Version: 4, Type: TypeVote, Signer: key.Public().Bytes(), Seq: 1, Body: voteBody, ChainID: testChainID}), CodeUnknownVersion, codec.ErrUnknownVersion},
		{"no chain ID", signTx(t, key, Tx{Version: TxVersion, Type: TypeVote, Signer: key.Public().Bytes(), Seq: 1, Body: voteBody}), CodeMalformed, nil},
		{"chain ID too long", signTx(t, key, Tx{Version: TxVersion, Type: TypeVote, Signer: key.Public().Bytes(), Seq: 1, Body: voteBody, ChainID: strings.Repeat("c", MaxChainIDLen+1)}), CodeMalformed, nil},
		{"type 0", rawTx(t, key, 0, voteBody), CodeUnknownType, nil},
		{"type 15", rawTx(t, key, 15, voteBody), CodeUnknownType, nil},
		{"type 255", rawTx(t, key, 255, voteBody), CodeUnknownType, nil},
		{"seq 0", signTx(t, key, Tx{Version: TxVersion, Type: TypeVote, Signer: key.Public().Bytes(), Seq: 0, Body: voteBody, ChainID: testChainID}), CodeMalformed, nil},
		{"unsigned", enc(unsigned), CodeUnsigned, nil},
		{"tampered body", enc(tamperedBody), CodeBadSignature, identity.ErrBadSignature},
		{"tampered signer", enc(tamperedSigner), CodeBadSignature, identity.ErrBadSignature},
		{"short signer", enc(shortSigner), CodeBadSignature, nil},
		{"short signature", enc(shortSig), CodeBadSignature, nil},
		{"signature of another context", otherContext(t, key, voteTx), CodeBadSignature, identity.ErrBadSignature},
		{"non-canonical body", rawTx(t, key, TypeVote, nonCanonical), CodeMalformed, codec.ErrNotCanonical},
		{"body of another type", rawTx(t, key, TypeVote, anchorBody), CodeMalformed, codec.ErrUnknownField},
		{"empty body", rawTx(t, key, TypeVote, nil), CodeMalformed, codec.ErrMalformed},
		{"body not a map", rawTx(t, key, TypeVote, []byte{0x80}), CodeMalformed, codec.ErrWrongType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode(tc.tx)
			if err == nil {
				t.Fatalf("decoded %+v", d.Tx)
			}
			if !errors.Is(err, Rejected(tc.code)) || CodeOf(err) != tc.code {
				t.Fatalf("got %v (code %s), want code %s", err, CodeOf(err), tc.code)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want it to wrap %v", err, tc.is)
			}
			var e *Error
			if !errors.As(err, &e) || e.Err == nil {
				t.Errorf("error %v is not an *Error with a reason", err)
			}
		})
	}
}

// unknownField adds field 8 to an encoded transaction (in canonical order).
func unknownField(t testing.TB, b []byte) []byte {
	t.Helper()
	var m map[uint64]any
	if err := codec.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[8] = uint64(1)
	out, err := codec.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// otherContext signs tx in the registration context instead of "tx/v3".
func otherContext(t testing.TB, key *identity.SigningKey, tx Tx) []byte {
	t.Helper()
	tx.Sig = nil
	msg, err := tx.signedBytes()
	if err != nil {
		t.Fatal(err)
	}
	tx.Sig = key.SignContext(registerContext, msg)
	b, err := codec.Marshal(&tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeBodyChecks covers the stateless checks of each body type.
func TestDecodeBodyChecks(t *testing.T) {
	s := samples(t)
	pat, prov := s.patient, s.provider
	k := newSessionKey(t)
	exp := genesisTime.Add(3600e9).UnixMilli()
	grant := func(mod func(*Grant)) Body {
		g := *grantBody(t, pat, prov, 1, k, false, exp)
		mod(&g)
		return &g
	}
	regOf := func(id *identity.Identity, cons []byte, patient identity.ID, mod func(*Register)) Body {
		r := &Register{Member: KeysOf(id.Public(), cons), Cluster: 1, Patient: patient}
		if mod != nil {
			mod(r)
		}
		if err := r.Prove(id.Signing); err != nil {
			t.Fatal(err)
		}
		return r
	}
	otherPatient := mustIdentity(t, identity.RolePatient)
	badProof := regOf(pat, nil, identity.ID{}, nil).(*Register)
	badProof.Proof = bytes.Clone(badProof.Proof)
	badProof.Proof[0] ^= 1
	tm := terms(pat.ID(), []contract.Rule{glucoseRule}, prov.ID())
	goodDeploy := deployBody(t, pat, tm, prov)
	pr := s.bodies[TypeProviderRecord].(*ProviderRecord)
	att := s.bodies[TypeHandover].(*Handover).Attestations[0]
	att2, err := Attest(s.patient.Signing, HandoverStatement{Cluster: 1, OldHead: s.auth.ID(), NewHead: s.auth2.ID()})
	if err != nil {
		t.Fatal(err)
	}
	atts := []Attestation{att, att2}
	if !idLess(atts[1].Authority, atts[0].Authority) {
		atts[0], atts[1] = atts[1], atts[0] // make them descending
	}

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   Body
		code   Code
	}{
		{"register: unknown role", s.auth.Signing, regOf(pat, nil, identity.ID{}, func(r *Register) { r.Member.Role = 9 }), CodeMalformed},
		{"register: patient without encryption key", s.auth.Signing, regOf(pat, nil, identity.ID{}, func(r *Register) { r.Member.Suite, r.Member.Encryption = 0, nil }), CodeMalformed},
		{"register: cloud with encryption key", s.auth.Signing, regOf(s.cloud, nil, identity.ID{}, func(r *Register) {
			r.Member.Suite, r.Member.Encryption = pat.Public().Encryption.Suite(), pat.Public().Encryption.Bytes()
		}), CodeMalformed},
		{"register: authority without consensus key", s.auth.Signing, regOf(s.auth2, nil, identity.ID{}, nil), CodeMalformed},
		{"register: patient with consensus key", s.auth.Signing, regOf(pat, make([]byte, 32), identity.ID{}, nil), CodeMalformed},
		{"register: device without patient", pat.Signing, regOf(s.device, nil, identity.ID{}, nil), CodeMalformed},
		{"register: patient naming a patient", s.auth.Signing, regOf(otherPatient, nil, pat.ID(), nil), CodeMalformed},
		{"register: device by another patient", otherPatient.Signing, regOf(s.device, nil, pat.ID(), nil), CodeUnauthorized},
		{"register: itself", pat.Signing, regOf(pat, nil, identity.ID{}, nil), CodeUnauthorized},
		{"register: bad proof", s.auth.Signing, badProof, CodeBadSignature},
		{"register: proof by the signer", s.auth.Signing, func() Body {
			r := &Register{Member: KeysOf(pat.Public(), nil), Cluster: 1}
			if err := r.Prove(s.auth.Signing); err != nil {
				t.Fatal(err)
			}
			return r
		}(), CodeBadSignature},

		{"deploy: no providers", pat.Signing, &DeployContract{Sealed: goodDeploy.Sealed}, CodeMalformed},
		{"deploy: by another patient", otherPatient.Signing, goodDeploy, CodeEnvelope},
		{"deploy: no acceptance", pat.Signing, &DeployContract{Providers: tm.Providers, Sealed: goodDeploy.Sealed}, CodeUnauthorized},
		{"deploy: acceptance from someone else", pat.Signing, &DeployContract{Providers: tm.Providers, Sealed: goodDeploy.Sealed, Acceptances: []Acceptance{{Provider: pat.ID(), Sig: goodDeploy.Acceptances[0].Sig}}}, CodeMalformed},

		{"grant: no scope keys", pat.Signing, grant(func(g *Grant) { g.Keys = nil }), CodeMalformed},
		{"grant: scope keys of another size", pat.Signing, grant(func(g *Grant) { g.Keys = g.Keys[1:] }), CodeMalformed},
		{"grant: no expiry", pat.Signing, grant(func(g *Grant) { g.Expiry = 0 }), CodeMalformed},
		{"grant: to itself", pat.Signing, grant(func(g *Grant) { g.Provider = pat.ID() }), CodeInvalid},
		{"grant: garbage envelope", pat.Signing, grant(func(g *Grant) { g.Envelope = []byte{1, 2, 3} }), CodeMalformed},
		{"grant: envelope of another epoch", pat.Signing, grant(func(g *Grant) { g.Epoch = 2 }), CodeEnvelope},
		{"grant: envelope of another provider", pat.Signing, grant(func(g *Grant) { g.Provider = s.cloud.ID() }), CodeEnvelope},
		{"grant: by another patient", otherPatient.Signing, grant(func(*Grant) {}), CodeEnvelope},
		{"grant: self envelope", pat.Signing, grant(func(g *Grant) { g.Envelope = s.bodies[TypeSessionKey].(*SessionKey).Envelope }), CodeEnvelope},

		{"session key: another epoch", pat.Signing, &SessionKey{Epoch: 2, Envelope: s.bodies[TypeSessionKey].(*SessionKey).Envelope}, CodeEnvelope},
		{"session key: another patient", otherPatient.Signing, s.bodies[TypeSessionKey], CodeEnvelope},
		{"session key: grant envelope", pat.Signing, &SessionKey{Epoch: 1, Envelope: s.bodies[TypeGrant].(*Grant).Envelope}, CodeEnvelope},

		{"revoke: rewrap to the revoked", pat.Signing, &Revoke{Provider: prov.ID(), NewEpoch: 2, SelfEnvelope: s.bodies[TypeRevoke].(*Revoke).SelfEnvelope,
			Rewraps: []Rewrap{{Provider: prov.ID(), Envelope: grantEnv(t, pat, prov, 2, k), Keys: scopeKeysOf(t)}}}, CodeInvalid},
		{"revoke: self envelope of the old epoch", pat.Signing, &Revoke{Provider: prov.ID(), NewEpoch: 2, SelfEnvelope: s.bodies[TypeSessionKey].(*SessionKey).Envelope}, CodeEnvelope},

		{"provider record: another record", prov.Signing, &ProviderRecord{Patient: pr.Patient, RecordID: [32]byte{9}, Envelope: pr.Envelope}, CodeEnvelope},
		{"provider record: another sender", s.cloud.Signing, pr, CodeEnvelope},

		{"anchor: unknown log", s.cloud.Signing, &Anchor{Log: 2, Checkpoint: merklelog.Checkpoint{Size: 1}}, CodeMalformed},
		{"anchor: empty log", s.cloud.Signing, &Anchor{Log: LogRecords}, CodeMalformed},
		{"anchor: long proof", s.cloud.Signing, &Anchor{Log: LogRecords, Checkpoint: merklelog.Checkpoint{Size: 1}, Proof: make(merklelog.Proof, MaxProofHashes+1)}, CodeTooLarge},
		{"command: unknown", prov.Signing, &DeviceCommand{Device: s.device.ID(), Command: "reboot", Value: 1}, CodeMalformed},
		{"command: interval too short", prov.Signing, &DeviceCommand{Device: s.device.ID(), Command: "sampling_interval_ms", Value: 99}, CodeMalformed},
		{"command: interval too long", prov.Signing, &DeviceCommand{Device: s.device.ID(), Command: "sampling_interval_ms", Value: 86_400_001}, CodeMalformed},
		{"handover: not by the new head", s.auth.Signing, s.bodies[TypeHandover], CodeUnauthorized},
		{"handover: attestations out of order", s.auth2.Signing, &Handover{Cluster: 1, NewHead: s.auth2.ID(), Attestations: atts}, CodeMalformed},
		{"handover: repeated attestation", s.auth2.Signing, &Handover{Cluster: 1, NewHead: s.auth2.ID(), Attestations: []Attestation{att, att}}, CodeMalformed},
		{"migrate: repeated device", pat.Signing, &Migrate{Cluster: 2, Devices: []identity.ID{s.device.ID(), s.device.ID()}}, CodeMalformed},
		{"migrate: too many devices", pat.Signing, &Migrate{Cluster: 2, Devices: ascendingIDs(MaxMigrateDevices + 1)}, CodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewTx(testChainID, tc.signer, 1, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(b)
			if !errors.Is(err, Rejected(tc.code)) {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	for c := CodeOK; c <= CodePolicy; c++ {
		if n := c.String(); strings.HasPrefix(n, "code(") {
			t.Errorf("code %d has no name: %q", c, n)
		}
	}
	if got := Code(99).String(); got != "code(99)" {
		t.Errorf("Code(99) = %q", got)
	}
	if CodeOf(nil) != CodeOK || CodeOf(errors.New("x")) != CodeInvalid {
		t.Error("CodeOf of nil or a plain error")
	}
	err := errorf(CodeReplay, "seq %d", 3)
	if CodeOf(err) != CodeReplay || err.Error() != "replay: seq 3" {
		t.Errorf("errorf: %v", err)
	}
	if errors.Is(err, Rejected(CodeDuplicate)) || !errors.Is(err, Rejected(CodeReplay)) {
		t.Error("errors.Is against Rejected")
	}
	// A target with a reason is not a code match.
	if errors.Is(err, &Error{Code: CodeReplay, Err: errors.New("other")}) {
		t.Error("matched a target with a reason")
	}
	inner := errors.New("inner")
	w := wrap(CodeMalformed, "ctx", inner)
	if !errors.Is(w, inner) || w.Error() != "malformed: ctx: inner" {
		t.Errorf("wrap: %v", w)
	}
}

func TestNewTxSigns(t *testing.T) {
	s := samples(t)
	d, err := Decode(s.txs[TypeAnchor])
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.VerifyContext(d.Tx.Signer, txContext, mustSigned(t, &d.Tx), d.Tx.Sig); err != nil {
		t.Fatal(err)
	}
}

func mustSigned(t testing.TB, tx *Tx) []byte {
	t.Helper()
	b, err := tx.signedBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecode(f *testing.F) {
	s := samples(f)
	for typ := Type(1); typ.Valid(); typ++ {
		f.Add(s.txs[typ])
	}
	// A provider's relation key, registered by its patient with its sealed
	// binding.
	rel := mustIdentity(f, identity.RoleProvider)
	rr := &Register{Member: KeysOf(rel.Public(), nil), Patient: s.patient.ID(), Binding: []byte{1, 2, 3}}
	if err := rr.Prove(rel.Signing); err != nil {
		f.Fatal(err)
	}
	if raw, err := NewTx("fuzz", s.patient.Signing, 1, rr); err == nil {
		f.Add(raw)
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == CodeOK || e.Code > CodePolicy {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		again, err := codec.Marshal(&d.Tx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
		body, err := codec.Marshal(d.Body)
		if err != nil || !bytes.Equal(body, d.Tx.Body) {
			t.Fatalf("body re-encoding differs: %v", err)
		}
	})
}

func TestCheckTx(t *testing.T) {
	s := samples(t)
	m := NewMachine()
	if _, err := m.CheckTx(nil, []byte{1}); !errors.Is(err, Rejected(CodeMalformed)) {
		t.Fatalf("CheckTx of junk: %v", err)
	}
	if len(m.cache) != 0 {
		t.Fatal("a rejected transaction was cached")
	}
	tx := s.txs[TypeVote]
	d1, err := m.CheckTx(nil, tx)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := m.CheckTx(nil, tx)
	if err != nil || len(m.cache) != 1 || len(m.order) != 1 {
		t.Fatalf("CheckTx twice: %v, %d cached", err, len(m.cache))
	}
	if d, err := m.decode(tx, false); err != nil || d != d1 || d2.Hash != d1.Hash {
		t.Fatal("decode does not use the cache")
	}
	if d, err := m.decode(tx, true); err != nil || d != d1 || len(m.cache) != 0 {
		t.Fatalf("execution does not take the transaction from the cache: %v, %d cached", err, len(m.cache))
	}
	if d, err := m.decode(tx, true); err != nil || d == d1 || d.Hash != d1.Hash {
		t.Fatal("a transaction taken from the cache does not decode afresh")
	}
}

// FuzzDecodeBody fuzzes what a signer controls behind its signature: the
// type and body of a transaction it signs.
func FuzzDecodeBody(f *testing.F) {
	s := samples(f)
	for typ := Type(1); typ.Valid(); typ++ {
		f.Add(uint8(typ), decodeTx(f, s.txs[typ]).Body)
	}
	key, err := identity.NewSigningKey(identity.RolePatient, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ uint8, body []byte) {
		if len(body) > MaxTxSize-200 {
			return
		}
		d, err := Decode(rawTx(t, key, Type(typ), body))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == CodeOK || e.Code > CodePolicy {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		again, err := codec.Marshal(d.Body)
		if err != nil || !bytes.Equal(again, body) {
			t.Fatalf("body re-encoding differs: %v", err)
		}
	})
}

// ascendingIDs returns n distinct IDs in ascending order.
func ascendingIDs(n int) []identity.ID {
	ids := make([]identity.ID, n)
	for i := range ids {
		ids[i][0], ids[i][1] = byte(i>>8), byte(i)
	}
	return ids
}

// A Rejected target prints as its code (it was a nil dereference).
func TestRejectedPrints(t *testing.T) {
	if got := Rejected(CodeDuplicate).Error(); got != CodeDuplicate.String() {
		t.Fatalf("Rejected(CodeDuplicate).Error() = %q", got)
	}
}

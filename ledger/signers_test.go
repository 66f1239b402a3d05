package ledger

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/statetree"
)

// TestForeignChainTxRefused: a transaction signed for another chain (a test
// network, with the same keys) is refused on this one, in CheckTx before
// its signature is verified and in a block, with its own code; it uses up
// nothing, and the same signer's transaction for this chain commits.
func TestForeignChainTxRefused(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	var id string
	c.mustQuery(QueryChainID, &id)
	if id != testChainID {
		t.Fatalf("chain ID %q, want %q", id, testChainID)
	}
	p := c.register(identity.RolePatient, nil)
	k := newSessionKey(t)
	body := sessionKeyBody(t, p, 1, k)
	foreign, err := NewTx("vitalchain-testnet", p.Signing, 1, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(foreign); err != nil {
		t.Fatalf("Decode, which does not know the chain: %v", err)
	}
	if _, err := c.m.CheckTx(c.st, foreign); !errors.Is(err, Rejected(CodeWrongChain)) {
		t.Fatalf("CheckTx: %v, want %s", err, CodeWrongChain)
	}
	// Even with a forged signature it is refused as foreign: the check is
	// made before the signature is verified.
	forged := decodeTx(t, foreign)
	forged.Sig[0] ^= 1
	if _, err := c.m.CheckTx(c.st, encodeTx(t, forged)); !errors.Is(err, Rejected(CodeWrongChain)) {
		t.Fatalf("CheckTx of a forged foreign tx: %v, want %s", err, CodeWrongChain)
	}
	// No honest proposer proposes it, and no proposal with it passes.
	if got, err := c.m.Prepare(c.st, c.proposer(0), c.now.Add(time.Second), [][]byte{foreign}, 1<<20); err != nil || len(got) != 0 {
		t.Fatalf("Prepare: %d transactions, %v", len(got), err)
	}
	if err := c.m.Process(c.st, c.proposer(0), c.now.Add(time.Second), [][]byte{foreign}); !errors.Is(err, Rejected(CodePolicy)) {
		t.Fatalf("Process: %v, want %s", err, CodePolicy)
	}
	wantCodes(t, c.block(foreign), CodeWrongChain)
	var seq uint64
	c.mustQuery(SeqPath(p.ID()), &seq)
	if seq != 0 {
		t.Fatalf("the foreign tx used up sequence number %d", seq)
	}
	var ps PatientState
	c.mustQuery(EpochPath(p.ID()), &ps)
	if ps.Epoch != 0 {
		t.Fatalf("the foreign tx started epoch %d", ps.Epoch)
	}
	// The same body and sequence number, signed for this chain, commits.
	home := c.txSeq(p.Signing, 1, body)
	if _, err := c.m.CheckTx(c.st, home); err != nil {
		t.Fatalf("CheckTx of the tx for this chain: %v", err)
	}
	wantCodes(t, c.block(home), CodeOK)
}

func encodeTx(t testing.TB, tx Tx) []byte {
	t.Helper()
	b, err := codec.Marshal(&tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInitChainNeedsAChainID: genesis stores the chain ID every
// transaction signs; there is no chain without one.
func TestInitChainNeedsAChainID(t *testing.T) {
	t.Parallel()
	tg := newGenesis(t, 1)
	for _, id := range []string{"", string(make([]byte, MaxChainIDLen+1))} {
		if _, err := NewMachine().InitChain(MemStore{}, statetree.NewMemory(), id, tg.g, genesisTime); err == nil {
			t.Errorf("InitChain with chain ID %q succeeded", id)
		}
	}
}

// TestProviderRecordNeedsAGrant: a provider writes into a patient's history
// (transaction 3) only while it holds an active grant from that patient.
// Before, any registered provider could write into any patient's history.
func TestProviderRecordNeedsAGrant(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	other := c.register(identity.RolePatient, nil)
	granted := c.register(identity.RoleProvider, nil)
	stranger := c.register(identity.RoleProvider, nil)
	elsewhere := c.register(identity.RoleProvider, nil) // granted by another patient only
	short := c.register(identity.RoleProvider, nil)     // a grant that expires
	revoked := c.register(identity.RoleProvider, nil)
	k := c.startEpoch(pat, 1)
	c.ok(pat.Signing, grantBody(t, pat, granted, 1, k, false, c.expiry(time.Hour)))
	c.ok(pat.Signing, grantBody(t, pat, short, 1, k, false, c.expiry(1500*time.Millisecond)))
	c.ok(pat.Signing, grantBody(t, pat, revoked, 1, k, false, c.expiry(time.Hour)))
	ko := c.startEpoch(other, 1)
	c.ok(other.Signing, grantBody(t, other, elsewhere, 1, ko, false, c.expiry(time.Hour)))
	k2 := newSessionKey(t)
	c.ok(pat.Signing, &Revoke{Provider: revoked.ID(), NewEpoch: 2, SelfEnvelope: sessionKeyBody(t, pat, 2, k2).Envelope,
		Rewraps: []Rewrap{{Provider: granted.ID(), Envelope: grantEnv(t, pat, granted, 2, k2), Keys: scopeKeysOf(t)}}}) // short's grant has expired by now

	rk := newSessionKey(t)
	record := func(prov *identity.Identity, n byte) *ProviderRecord {
		e, err := envelope.ProviderRecordEnvelope(prov, pat.Public(), [32]byte{n}, rk)
		return &ProviderRecord{Patient: pat.ID(), RecordID: [32]byte{n}, Envelope: envBytes(t, e, err)}
	}
	tests := []struct {
		name string
		prov *identity.Identity
		code Code
	}{
		{"no grant", stranger, CodeUnauthorized},
		{"a grant from another patient", elsewhere, CodeUnauthorized},
		{"an expired grant", short, CodeUnauthorized},
		{"a revoked grant", revoked, CodeUnauthorized},
		{"an active grant", granted, CodeOK},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.block(c.tx(tc.prov.Signing, record(tc.prov, byte(i+1))))[0]
			if r.Code != tc.code {
				t.Fatalf("got %s (%s), want %s", r.Code, r.Log, tc.code)
			}
		})
	}
	var list []ProviderRecordListing
	c.mustQuery(Record3Path(pat.ID()), &list)
	if len(list) != 1 || list[0].Entry.Provider != granted.ID() {
		t.Fatalf("the patient's history holds %+v, want only the granted provider's record", list)
	}
}

// TestAlertOnlyFromTheHomeCloud: a patient's alerts are posted by the cloud
// that keeps its records, a cloud of the patient's home cluster (or by the
// patient itself); a cloud of another cluster cannot notify the patient's
// providers. Before, any registered cloud could post for any patient.
func TestAlertOnlyFromTheHomeCloud(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	home := c.registerIn(identity.RoleCloud, identity.SuiteX25519, 1)
	away := c.registerIn(identity.RoleCloud, identity.SuiteX25519, 2)
	pat := c.registerIn(identity.RolePatient, identity.SuiteX25519, 1)
	prov := c.registerIn(identity.RoleProvider, identity.SuiteX25519, 2)
	cid := c.deploy(pat, prov)
	n := byte(0)
	alert := func() *Alert {
		n++
		return &Alert{Patient: pat.ID(), Contract: cid, RecordID: [32]byte{n}, Time: 1}
	}
	c.fails(away.Signing, alert(), CodeUnauthorized)
	c.ok(home.Signing, alert())
	c.ok(pat.Signing, alert())
	c.fails(away.Signing, &Alert{Patient: prov.ID(), Contract: cid, RecordID: [32]byte{99}}, CodeWrongRole)

	// The patient moves to cluster 2: its records stay in the custody of
	// its home cluster's cloud, and so do its alerts.
	c.ok(pat.Signing, &Migrate{Cluster: 2})
	c.fails(away.Signing, alert(), CodeUnauthorized)
	c.ok(home.Signing, alert())

	var rec AlertRecord
	if err := c.query(AlertPath(pat.ID(), [32]byte{1}), &rec); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused alert was stored: %v %+v", err, rec)
	}
}

// TestAnchorOnlyFromAClusterCloud: only a cloud that is a member of an
// existing cluster anchors. Register admits clouds only to existing
// clusters, so the state below (a cloud member of no cluster) is written by
// hand, as an older version or a bug could have left it; before, any
// member with the cloud role anchored.
func TestAnchorOnlyFromAClusterCloud(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	member := c.registerIn(identity.RoleCloud, identity.SuiteX25519, 2)
	orphan := mustIdentity(t, identity.RoleCloud)
	m := Member{Role: identity.RoleCloud, Verifying: orphan.Public().Verifying.Bytes(), Cluster: 7, Home: 7}
	b, err := codec.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	id := orphan.ID()
	c.st.Apply([]Write{{Key: key(pMember, id[:]), Value: b}})

	lg := newTestLog(t)
	lg.grow(2)
	c.fails(orphan.Signing, lg.anchor(LogRecords, 0, 1), CodeUnauthorized)
	var rec AnchorRecord
	if err := c.query(AnchorPath(id, LogRecords), &rec); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the orphan's anchor was stored: %v %+v", err, rec)
	}
	c.ok(member.Signing, lg.anchor(LogRecords, 0, 1))
	c.fails(c.auths[1].Signing, lg.anchor(LogRecords, 0, 1), CodeWrongRole)
}

// TestOneKeyCannotFillABlock: one signer's transactions in a block are
// capped by its role (Params.Caps), in number and in bytes. Those over the
// cap are refused with CodeOverCap and use up nothing, so the same bytes
// commit in a later block; an honest proposer leaves them in the mempool;
// a proposal over a cap is rejected. Before, one key could fill a block
// with transactions that each passed, delaying everyone else's.
func TestOneKeyCannotFillABlock(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	flooder := c.register(identity.RolePatient, nil)
	honest := c.register(identity.RolePatient, nil)
	prov := c.register(identity.RoleProvider, nil)
	dev := c.register(identity.RoleDevice, honest)
	kf, kh := c.startEpoch(flooder, 1), c.startEpoch(honest, 1)
	limit := int(DefaultCaps().Patient.Txs)
	grants := func(p *identity.Identity, k envelope.SessionKey, n int) [][]byte {
		var txs [][]byte
		for i := range n {
			txs = append(txs, c.tx(p.Signing, grantBody(t, p, prov, 1, k, false, c.expiry(time.Hour)+int64(i))))
		}
		return txs
	}
	flood := grants(flooder, kf, limit+8)
	mine := grants(honest, kh, 1)
	mempool := append(slices.Clone(flood), mine...)

	// The proposer takes the flooder's share and the honest grant; the
	// other proposers accept that, and reject the whole flood.
	proposal, err := c.m.Prepare(c.st, c.proposer(0), c.now.Add(time.Second), mempool, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTxs(proposal, append(slices.Clone(flood[:limit]), mine...)) {
		t.Fatalf("proposal of %d transactions, want the flooder's first %d and the honest one", len(proposal), limit)
	}
	if err := c.m.Process(c.st, c.proposer(0), c.now.Add(time.Second), proposal); err != nil {
		t.Fatalf("Process of Prepare's proposal: %v", err)
	}
	if err := c.m.Process(c.st, c.proposer(0), c.now.Add(time.Second), mempool); !errors.Is(err, Rejected(CodePolicy)) {
		t.Fatalf("Process of the flood: %v, want %s", err, CodePolicy)
	}

	// A block with the whole flood (from a proposer that broke the rule, or
	// replayed): the flooder's share commits, the rest is refused, the
	// honest grant commits.
	want := slices.Repeat([]Code{CodeOK}, limit)
	want = append(want, slices.Repeat([]Code{CodeOverCap}, 8)...)
	wantCodes(t, c.block(mempool...), append(want, CodeOK)...)
	// What was over the cap commits in the next block, as it was.
	wantCodes(t, c.block(flood[limit:]...), slices.Repeat([]Code{CodeOK}, 8)...)

	// A device signs nothing.
	wantCodes(t, c.block(c.tx(dev.Signing, &TerminateContract{ID: [32]byte{1}})), CodeWrongRole)
}

// TestSignerCapBytes: the bytes a signer puts in a block are capped too.
func TestSignerCapBytes(t *testing.T) {
	t.Parallel()
	tg := newGenesis(t, 1)
	tg.g.Params.Caps = DefaultCaps()
	tg.g.Params.Caps.Patient = SignerCap{Txs: 1000, Bytes: MaxTxSize}
	c := startChain(t, tg)
	pat := c.register(identity.RolePatient, nil)
	prov := c.register(identity.RoleProvider, nil)
	k := c.startEpoch(pat, 1)
	var txs [][]byte
	size, fit := 0, 0
	for i := 0; size <= MaxTxSize; i++ {
		tx := c.tx(pat.Signing, grantBody(t, pat, prov, 1, k, false, c.expiry(time.Hour)+int64(i)))
		txs = append(txs, tx)
		if size += len(tx); size <= MaxTxSize {
			fit++
		}
	}
	rs := c.block(txs...)
	for i, r := range rs {
		if want := map[bool]Code{true: CodeOK, false: CodeOverCap}[i < fit]; r.Code != want {
			t.Fatalf("tx %d of %d (%d fit in %d bytes): %s (%s), want %s", i, len(txs), fit, MaxTxSize, r.Code, r.Log, want)
		}
	}
	if err := (Params{AnchorCap: 1, SeqWindow: 1, AuthorityPower: 1, Caps: SignerCaps{Cloud: SignerCap{Txs: 1, Bytes: MaxTxSize - 1}}}).validate(); err == nil {
		t.Error("caps with no room for one transaction of MaxTxSize are valid")
	}
}

// TestReusedSeqRefusedInCheckTx: CheckTx refuses a sequence number that is
// used in the committed state or taken by a transaction the mempool already
// holds, and bounds what one signer holds in the mempool to its window;
// after a block, Recheck rebuilds that view from what the mempool still
// holds and drops what the block made stale. Before, CheckTx looked at no
// sequence number: one key could fill the mempool, then the blocks, with
// transactions reusing one sequence number.
func TestReusedSeqRefusedInCheckTx(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	dev := c.register(identity.RoleDevice, pat)
	m := c.m
	check := func(tx []byte, want Code) {
		t.Helper()
		if _, err := m.CheckTx(c.st, tx); CodeOf(err) != want {
			t.Fatalf("CheckTx: %v, want %s", err, want)
		}
	}
	recheck := func(tx []byte, want Code) {
		t.Helper()
		if err := m.Recheck(c.st, tx); CodeOf(err) != want {
			t.Fatalf("Recheck: %v, want %s", err, want)
		}
	}
	// The patient's registration of its device used seq 1.
	terminate := func(seq uint64, n byte) []byte {
		return c.txSeq(pat.Signing, seq, &TerminateContract{ID: [32]byte{n}})
	}
	a, b := terminate(2, 1), terminate(2, 2)
	check(a, CodeOK)
	check(b, CodeReplay) // seq 2 is taken by a, waiting in the mempool
	check(a, CodeOK)     // a again (a retry): still a's
	check(terminate(1, 3), CodeReplay)
	forged := decodeTx(t, terminate(2, 4))
	forged.Sig[0] ^= 1
	check(encodeTx(t, forged), CodeReplay) // before its signature is verified

	// a commits; b's seq is now used in the state, and a is stale.
	c.block(a)
	check(b, CodeReplay)
	recheck(a, CodeReplay)

	// x and y hold seqs 3 and 4 in the mempool; a block commits another
	// transaction with seq 4 (from another node's mempool): the recheck
	// keeps x and drops y.
	x, y, other := terminate(3, 5), terminate(4, 6), terminate(4, 7)
	check(x, CodeOK)
	check(y, CodeOK)
	c.block(other)
	recheck(x, CodeOK)
	recheck(y, CodeReplay)
	check(terminate(3, 8), CodeReplay) // x holds 3 again

	// One signer holds at most its window of sequence numbers.
	window := int(c.st.params(t).SeqWindow)
	for i := range window - 1 { // x holds one already
		check(terminate(uint64(10+i), 9), CodeOK)
	}
	check(terminate(uint64(10+window), 9), CodeOverCap)
	newcomer := mustIdentity(t, identity.RolePatient)
	check(c.txSeq(c.auths[0].Signing, 100, c.registerBody(newcomer, 1, identity.ID{}, newcomer.Signing)), CodeOK) // others are not held up
	c.block()
	for i := range window - 1 {
		recheck(terminate(uint64(10+i), 9), CodeOK)
	}
	recheck(x, CodeOK)
	check(terminate(uint64(10+window), 9), CodeOverCap)

	// A device signs no transaction: refused before anything is verified.
	check(c.txSeq(dev.Signing, 1, &TerminateContract{ID: [32]byte{1}}), CodeWrongRole)
}

// params returns the committed parameters.
func (m MemStore) params(t testing.TB) Params {
	t.Helper()
	var p Params
	if ok, err := getCBOR(m, []byte{pParams}, &p); err != nil || !ok {
		t.Fatalf("params: %v %v", ok, err)
	}
	return p
}

// FuzzCheckTx runs CheckTx, then (after a commit) Recheck, on arbitrary
// bytes against a small state. Invariants: no panic; every refusal is a
// rejection with a code; what CheckTx admits, it admits again (a retry),
// and the recheck after a commit keeps it.
func FuzzCheckTx(f *testing.F) {
	c := newTestChain(f, 1)
	pat := c.register(identity.RolePatient, nil)
	for seq := range uint64(4) {
		f.Add(c.txSeq(pat.Signing, seq, &TerminateContract{ID: [32]byte{byte(seq)}}))
	}
	foreign, err := NewTx("another-chain", pat.Signing, 9, &TerminateContract{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(foreign)
	f.Add(c.txSeq(c.auths[0].Signing, 5, &Vote{Candidate: pat.ID(), Add: true}))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := NewMachine()
		rejection := func(err error) {
			t.Helper()
			var e *Error
			if !errors.As(err, &e) || e.Code == CodeOK || e.Code.String() == "code("+itoa(int64(e.Code))+")" {
				t.Fatalf("error %v is not a rejection", err)
			}
		}
		if _, err := m.CheckTx(c.st, b); err != nil {
			rejection(err)
			if err := m.Recheck(c.st, b); err == nil {
				t.Fatal("Recheck admits what CheckTx refused")
			} else {
				rejection(err)
			}
			return
		}
		if _, err := m.CheckTx(c.st, b); err != nil {
			t.Fatalf("CheckTx admitted, then refused the same bytes: %v", err)
		}
		m.Committed()
		if err := m.Recheck(c.st, b); err != nil {
			t.Fatalf("Recheck after a commit refused what CheckTx admitted: %v", err)
		}
	})
}

// BenchmarkMempoolView measures the mempool's view of sequence numbers:
// CheckTx of a new transaction with the committed state (the look-ups and
// the reservation, signature verification included) against Decode alone,
// and the recheck after a block of 1,024 waiting transactions from 32
// signers (cached since CheckTx), per transaction.
func BenchmarkMempoolView(b *testing.B) {
	c := newTestChain(b, 1)
	const signers, each = 32, 32
	var txs [][]byte
	for range signers {
		p := c.register(identity.RolePatient, nil)
		for i := range each {
			txs = append(txs, c.txSeq(p.Signing, uint64(2+i), &TerminateContract{ID: [32]byte{byte(i)}}))
		}
	}
	b.Run("decode", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := Decode(txs[i%len(txs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("checktx", func(b *testing.B) {
		m := NewMachine()
		i := 0
		for b.Loop() {
			if i%len(txs) == 0 {
				m.Committed()
			}
			if _, err := m.CheckTx(c.st, txs[i%len(txs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("recheck", func(b *testing.B) {
		m := NewMachine()
		for _, tx := range txs {
			if _, err := m.CheckTx(c.st, tx); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			m.Committed()
			for _, tx := range txs {
				if err := m.Recheck(c.st, tx); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs)), "ns/tx")
	})
}

package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// Event is something a transaction did that clients subscribe to, as
// CometBFT events: a type and attributes, e.g. alert{patient, provider…}.
type Event struct {
	Type  string
	Attrs []Attr
}

// Attr is one attribute of an Event. A key may repeat (an alert names each of
// its providers), and a query matches any of its values.
type Attr struct{ Key, Value string }

// TxResult is the outcome of one transaction in a block.
type TxResult struct {
	Code   Code
	Log    string
	Events []Event
}

// Write is one change to the state: Value nil deletes Key.
type Write struct{ Key, Value []byte }

// ValidatorUpdate changes an authority's voting power (0 removes it).
type ValidatorUpdate struct {
	PubKey []byte // Ed25519 consensus key
	Power  int64
}

// Block is a decided block as the state machine sees it.
type Block struct {
	Height int64
	Time   time.Time // from the block header: the only clock the ledger reads
	Txs    [][]byte
	// Signers are the consensus addresses (ConsensusAddress) of the
	// validators whose signatures the block's commit of the previous block
	// carries: what CometBFT decided, the same on every node.
	Signers [][]byte
}

// Result is the outcome of a block: what CometBFT and the store need.
type Result struct {
	TxResults        []TxResult
	Writes           []Write // sorted by key
	ValidatorUpdates []ValidatorUpdate
	AppHash          [32]byte
}

// Machine executes blocks. It keeps no state between blocks except a cache
// of transactions it has already decoded and verified in CheckTx, which only
// saves work (a block gives the same result with or without it), and the
// mempool's view of sequence numbers, which only CheckTx reads.
type Machine struct {
	mu    sync.Mutex
	cache map[[32]byte]*Decoded
	order [][32]byte // insertion order, to bound the cache

	pool pool // the mempool's view of sequence numbers (CheckTx, Recheck, Committed)
}

// maxCache bounds the verified-transaction cache.
const maxCache = 1 << 16

// NewMachine returns a state machine.
func NewMachine() *Machine {
	return &Machine{cache: make(map[[32]byte]*Decoded)}
}

// CheckTx checks a transaction for the mempool and remembers it, so that
// FinalizeBlock need not verify its signature again. The checks are
// stateless, except cheap look-ups when st is not nil, made before any
// costly check: a transaction signed for another chain is refused
// (CodeWrongChain), and so is a signer that is not registered in the
// committed state st (CodeUnknownSigner), so that unknown keys cannot make
// the mempool verify signatures or compile contracts for nothing; a signer
// whose role signs nothing (CodeWrongRole) or whose transaction could never
// fit its role's cap (CodeTooLarge); and a sequence number already used in
// st or taken by a transaction admitted before and not yet committed
// (CodeReplay), or a signer with its window's worth of transactions waiting
// (CodeOverCap): see Recheck and Committed for the mempool's view.
func (m *Machine) CheckTx(st Store, txBytes []byte) (*Decoded, error) {
	var adm *admission
	if st != nil && len(txBytes) <= MaxTxSize {
		var tx Tx
		if err := codec.UnmarshalLimit(txBytes, MaxTxSize, &tx); err == nil {
			if adm, err = m.admissible(st, &tx, txBytes); err != nil {
				return nil, err
			}
		}
	}
	d, err := Decode(txBytes)
	if err != nil {
		return nil, err
	}
	if adm != nil {
		if err := m.pool.reserve(adm); err != nil {
			return nil, err
		}
	}
	m.remember(d)
	return d, nil
}

// remember caches d for the block that will carry it.
func (m *Machine) remember(d *Decoded) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cache[d.Hash]; !ok {
		if len(m.order) >= maxCache {
			delete(m.cache, m.order[0])
			m.order = m.order[1:]
		}
		m.cache[d.Hash] = d
		m.order = append(m.order, d.Hash)
	}
}

// decode returns the decoded transaction from the cache or decodes it. A
// transaction taken for execution leaves the cache: once in a block it is
// not needed again (a replay of the block decodes it afresh).
func (m *Machine) decode(txBytes []byte, take bool) (*Decoded, error) {
	return m.decodeHashed(Hash(txBytes), txBytes, take)
}

// decodeHashed is decode of txBytes whose hash is h.
func (m *Machine) decodeHashed(h [32]byte, txBytes []byte, take bool) (*Decoded, error) {
	m.mu.Lock()
	d, ok := m.cache[h]
	if ok && take {
		delete(m.cache, h)
	}
	m.mu.Unlock()
	if ok {
		return d, nil
	}
	return Decode(txBytes)
}

// Tree commits the whole state in one hash, the app hash: package
// statetree's sparse Merkle tree, which proves single keys against it. The
// state machine sets and deletes in it what a block writes and reads its
// root; where its nodes are kept is the caller's business.
type Tree interface {
	Set(key, value []byte) error
	Delete(key []byte) error
	Root() [32]byte
}

// Execute runs a decided block against the committed state st, which tree
// commits, and returns its results. It applies the block's writes to tree
// (the caller commits or drops the tree with the block): the app hash is
// the tree's root after them. It returns an error only if the store or the
// tree fails; a bad transaction is a TxResult with a non-zero code.
func (m *Machine) Execute(st Store, tree Tree, b Block) (*Result, error) {
	x, err := newExec(st, b.Height, b.Time)
	if err != nil {
		return nil, err
	}
	// Absence first: a handover in this block judges the old head by
	// the commit this block carries too.
	if err := x.trackAbsence(b); err != nil {
		return nil, err
	}
	res := &Result{TxResults: make([]TxResult, len(b.Txs))}
	for i, txb := range b.Txs {
		r, err := x.run(m, txb)
		if err != nil {
			return nil, err
		}
		res.TxResults[i] = r
	}
	if err := x.endBlock(); err != nil {
		return nil, err
	}
	res.ValidatorUpdates = x.updates
	res.Writes = x.sortedWrites()
	if res.AppHash, err = commitTo(tree, res.Writes); err != nil {
		return nil, err
	}
	return res, nil
}

// commitTo applies writes to tree and returns its root: the app hash. The
// root commits to the state alone (not to its history): a block that
// writes nothing leaves it as it was, so that an idle chain with
// create_empty_blocks off stops making blocks (CometBFT makes a "proof
// block" after every block whose app hash changed).
func commitTo(tree Tree, writes []Write) ([32]byte, error) {
	for _, w := range writes {
		var err error
		if w.Value == nil {
			err = tree.Delete(w.Key)
		} else {
			err = tree.Set(w.Key, w.Value)
		}
		if err != nil {
			return [32]byte{}, fmt.Errorf("%w: state tree: %w", errStore, err)
		}
	}
	return tree.Root(), nil
}

// exec is one block's execution: the committed state plus this block's
// writes, plus the current transaction's writes until it succeeds.
type exec struct {
	st      Store
	chainID string
	height  int64
	now     int64 // block time, Unix ms
	params  Params
	block   map[string][]byte // this block's committed-on-success writes
	tx      map[string][]byte // the current transaction's writes
	events  []Event
	updates []ValidatorUpdate
	keep    *Write   // a refused transaction's write that stands: its sequence number
	signers [][]byte // the block's Signers: who signed the commit it carries
	quota   *quota   // each signer's share of the block used so far
}

// tombstone marks a deleted key in the write maps.
var tombstone = []byte(nil)

func newExec(st Store, height int64, t time.Time) (*exec, error) {
	x := &exec{st: st, height: height, now: t.UnixMilli(), block: map[string][]byte{}}
	ok, err := getCBOR(st, []byte{pParams}, &x.params)
	if err != nil {
		return nil, err
	}
	if !ok {
		x.params = DefaultParams()
	}
	if x.chainID, err = chainIDOf(st); err != nil {
		return nil, err
	}
	x.quota = newQuota(st, &x.params)
	return x, nil
}

// chainIDOf returns the chain ID genesis stored ("" before genesis).
func chainIDOf(st Store) (string, error) {
	b, err := st.Get([]byte{pChainID})
	if err != nil {
		return "", fmt.Errorf("%w: get the chain ID: %w", errStore, err)
	}
	return string(b), nil
}

// wrongChain refuses a transaction signed for another chain.
func wrongChain(tx *Tx, chainID string) error {
	if tx.ChainID == chainID {
		return nil
	}
	return errorf(CodeWrongChain, "transaction signed for chain %.50q, this is %q", tx.ChainID, chainID)
}

// run executes one transaction and keeps its writes only if it succeeds.
func (x *exec) run(m *Machine, txb []byte) (TxResult, error) {
	x.tx = map[string][]byte{}
	x.events = nil
	x.keep = nil
	err := x.apply(m, txb)
	if errors.Is(err, errStore) {
		return TxResult{}, err
	}
	if err != nil {
		x.tx = nil
		if x.keep != nil {
			x.block[string(x.keep.Key)] = x.keep.Value
		}
		return TxResult{Code: CodeOf(err), Log: err.Error()}, nil
	}
	for k, v := range x.tx {
		x.block[k] = v
	}
	x.tx = nil
	return TxResult{Code: CodeOK, Events: x.events}, nil
}

func (x *exec) apply(m *Machine, txb []byte) error {
	d, err := m.decode(txb, true)
	if err != nil {
		return err
	}
	if err := wrongChain(&d.Tx, x.chainID); err != nil {
		return err
	}
	// Over its signer's cap, a transaction is refused before it uses up its
	// sequence number: the same bytes may commit in a later block.
	if err := x.quota.admit(d, len(txb)); err != nil {
		return err
	}
	if err := x.useSeq(d); err != nil {
		return err
	}
	err = d.Body.apply(x, d)
	if err != nil && !errors.Is(err, errStore) {
		// A registered signer's refused transaction still uses up its
		// sequence number, so that its bytes cannot be replayed once the
		// state would let them pass (a device command refused for want of
		// a grant must not run after a later grant).
		id := d.Tx.SignerID()
		if ok, herr := x.has(key(pMember, id[:])); herr != nil {
			return herr
		} else if ok {
			k := key(pSeq, id[:])
			x.keep = &Write{Key: k, Value: x.tx[string(k)]}
		}
	}
	return err
}

// useSeq refuses a replayed sequence number and records this one.
func (x *exec) useSeq(d *Decoded) error {
	id := d.Tx.SignerID()
	k := key(pSeq, id[:])
	var w seqWindow
	if _, err := x.get(k, &w); err != nil {
		return err
	}
	if err := w.accept(d.Tx.Seq, x.params.SeqWindow); err != nil {
		return err
	}
	return x.put(k, &w)
}

// raw returns the current value of k: this transaction's, this block's or
// the committed one.
func (x *exec) raw(k []byte) ([]byte, error) {
	if v, ok := x.tx[string(k)]; ok {
		return v, nil
	}
	if v, ok := x.block[string(k)]; ok {
		return v, nil
	}
	v, err := x.st.Get(k)
	if err != nil {
		return nil, fmt.Errorf("%w: get %x: %w", errStore, k, err)
	}
	return v, nil
}

// get decodes the value at k into v and reports whether it exists.
func (x *exec) get(k []byte, v any) (bool, error) {
	b, err := x.raw(k)
	if err != nil || b == nil {
		return false, err
	}
	if err := codec.UnmarshalTrusted(b, v); err != nil {
		return false, fmt.Errorf("%w: corrupt value at %x: %v", errStore, k, err)
	}
	return true, nil
}

func (x *exec) has(k []byte) (bool, error) {
	b, err := x.raw(k)
	return b != nil, err
}

func (x *exec) put(k []byte, v any) error {
	b, err := codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode %T: %v", errStore, v, err)
	}
	x.tx[string(k)] = b
	return nil
}

func (x *exec) putRaw(k, v []byte) {
	if v == nil {
		v = []byte{}
	}
	x.tx[string(k)] = v
}

func (x *exec) del(k []byte) { x.tx[string(k)] = tombstone }

func (x *exec) emit(typ string, attrs ...Attr) {
	x.events = append(x.events, Event{Type: typ, Attrs: attrs})
}

func (x *exec) sortedWrites() []Write {
	ws := make([]Write, 0, len(x.block))
	for k, v := range x.block {
		ws = append(ws, Write{Key: []byte(k), Value: v})
	}
	sort.Slice(ws, func(i, j int) bool { return bytes.Compare(ws[i].Key, ws[j].Key) < 0 })
	return ws
}

// member returns the registered member with id, or a CodeNotFound /
// CodeUnknownSigner error naming what for.
func (x *exec) member(id identity.ID, what string) (*Member, error) {
	var m Member
	ok, err := x.get(key(pMember, id[:]), &m)
	if err != nil {
		return nil, err
	}
	if !ok {
		c := CodeNotFound
		if what == "signer" {
			c = CodeUnknownSigner
		}
		return nil, errorf(c, "%s %s is not registered", what, id)
	}
	return &m, nil
}

// signer returns the transaction's signer, who must have one of roles.
func (x *exec) signer(d *Decoded, roles ...identity.Role) (*Member, error) {
	m, err := x.member(d.Tx.SignerID(), "signer")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(m.Verifying, d.Tx.Signer) {
		return nil, errorf(CodeUnknownSigner, "signer key does not match the registered key")
	}
	if !slices.Contains(roles, m.Role) {
		return nil, errorf(CodeWrongRole, "signer is a %s; %s needs %s", m.Role, d.Tx.Type, rolesText(roles))
	}
	return m, nil
}

func rolesText(roles []identity.Role) string {
	s := ""
	for i, r := range roles {
		if i > 0 {
			s += " or "
		}
		s += "a " + r.String()
	}
	return s
}

package ledger

import (
	"sync"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// The mempool's view of sequence numbers. CheckTx admits a signer's
// transaction only if its sequence number is neither used in the committed
// state (the signer's window) nor taken by a transaction this node has
// already admitted to its mempool and not yet seen committed, and only
// while the signer has fewer than SeqWindow such transactions. So one key
// cannot fill the mempool, and then the blocks, with transactions that
// reuse one sequence number (each would be refused in its block, but only
// after taking its room), nor hold more of the mempool than its window of
// sequence numbers can ever commit.
//
// After each block, Committed forgets the admitted sequence numbers and the
// mempool's recheck (CometBFT's Recheck, which chain turns on) admits again,
// with Recheck, every transaction it still holds, in its order: so the view
// is exactly the mempool's, a transaction that the new block made stale
// (its sequence number now used) leaves the mempool, and a transaction the
// mempool dropped without telling (full after CheckTx) frees its sequence
// number. Without the recheck, the view holds what was admitted since the
// last block.

// pool is the admitted sequence numbers of each signer, with the hashes of
// their transactions, and what CheckTx reads of the committed state, read
// once a block: the state changes only at a commit, and Committed forgets
// it all. (CometBFT runs no CheckTx during a commit: the mempool is locked.)
type pool struct {
	mu      sync.Mutex
	pending map[identity.ID]map[uint64][32]byte

	read    bool // chainID and params are read
	chainID string
	params  Params
	signers map[identity.ID]signerState
}

// signerState is what CheckTx reads of a signer in the committed state.
type signerState struct {
	registered bool
	role       identity.Role
	window     seqWindow
}

// admission is what CheckTx learned of a transaction before verifying it.
type admission struct {
	signer identity.ID
	seq    uint64
	hash   [32]byte
	window uint32
}

// admissible makes CheckTx's cheap checks of tx (txBytes decoded, its
// signature not yet verified) against the committed state st and the
// mempool's view: its chain, its signer's registration and role, its size
// against the role's cap, and its sequence number.
func (m *Machine) admissible(st Store, tx *Tx, txBytes []byte) (*admission, error) {
	p := &m.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.readState(st); err != nil {
		return nil, err
	}
	if err := wrongChain(tx, p.chainID); err != nil {
		return nil, err
	}
	id := tx.SignerID()
	s, err := p.signer(st, id)
	if err != nil {
		return nil, err
	}
	if !s.registered {
		return nil, errorf(CodeUnknownSigner, "signer %s is not registered", id)
	}
	switch c := p.params.caps().Of(s.role); {
	case c.Txs == 0:
		return nil, errorf(CodeWrongRole, "a %s signs no transactions", s.role)
	case len(txBytes) > int(c.Bytes):
		return nil, errorf(CodeTooLarge, "transaction of %d bytes, more than a %s may put in a block (%d)", len(txBytes), s.role, c.Bytes)
	}
	a := &admission{signer: id, seq: tx.Seq, hash: Hash(txBytes), window: p.params.SeqWindow}
	// A sequence number used in the committed state, or too old to tell.
	w := s.window // a copy: nothing is written
	if err := w.accept(a.seq, a.window); err != nil {
		return nil, err
	}
	return a, p.free(a)
}

// readState reads the chain ID and the parameters, once a block. p.mu is held.
func (p *pool) readState(st Store) error {
	if p.read {
		return nil
	}
	id, err := chainIDOf(st)
	if err != nil {
		return err
	}
	var params Params
	if ok, err := getCBOR(st, []byte{pParams}, &params); err != nil {
		return err
	} else if !ok {
		params = DefaultParams()
	}
	p.read, p.chainID, p.params = true, id, params
	return nil
}

// signer reads a registered signer's role and window, once a block. p.mu
// is held.
func (p *pool) signer(st Store, id identity.ID) (signerState, error) {
	if s, ok := p.signers[id]; ok {
		return s, nil
	}
	var s signerState
	var mem Member
	ok, err := getCBOR(st, key(pMember, id[:]), &mem)
	if err != nil {
		return s, err
	}
	if !ok {
		return s, nil // not kept: unknown keys cost nothing to make
	}
	s.registered, s.role = true, mem.Role
	if _, err := getCBOR(st, key(pSeq, id[:]), &s.window); err != nil {
		return s, err
	}
	if p.signers == nil {
		p.signers = map[identity.ID]signerState{}
	}
	p.signers[id] = s
	return s, nil
}

// free refuses a sequence number another admitted transaction holds, and a
// signer that holds its window's worth. The same transaction again is free.
// p.mu is held.
func (p *pool) free(a *admission) error {
	mine := p.pending[a.signer]
	if h, ok := mine[a.seq]; ok {
		if h == a.hash {
			return nil
		}
		return errorf(CodeReplay, "sequence number %d is taken by another transaction waiting in the mempool", a.seq)
	}
	if len(mine) >= int(a.window) {
		return errorf(CodeOverCap, "signer %s has %d transactions waiting in the mempool, its window: send it again after some commit", a.signer, len(mine))
	}
	return nil
}

// reserve records an admitted transaction's sequence number, unless it is
// no longer free (another was admitted meanwhile).
func (p *pool) reserve(a *admission) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.free(a); err != nil {
		return err
	}
	if p.pending == nil {
		p.pending = map[identity.ID]map[uint64][32]byte{}
	}
	mine := p.pending[a.signer]
	if mine == nil {
		mine = map[uint64][32]byte{}
		p.pending[a.signer] = mine
	}
	mine[a.seq] = a.hash
	return nil
}

// Recheck checks again, after a block, a transaction that CheckTx admitted
// and the mempool still holds: its sequence number must still be free, in
// the new committed state st and among the transactions rechecked before
// it since Committed. An error means the mempool should drop it.
func (m *Machine) Recheck(st Store, txBytes []byte) error {
	var tx Tx
	if err := codec.UnmarshalLimit(txBytes, MaxTxSize, &tx); err != nil {
		return wrap(CodeMalformed, "decode transaction", err)
	}
	a, err := m.admissible(st, &tx, txBytes)
	if err != nil {
		return err
	}
	if _, err := m.decodeHashed(a.hash, txBytes, false); err != nil { // cached since CheckTx, or verified again
		return err
	}
	return m.pool.reserve(a)
}

// Committed tells the machine that a block was committed: it forgets the
// sequence numbers of the transactions admitted so far, which the mempool's
// recheck (Recheck) admits again if they are still waiting, and what it had
// read of the committed state.
func (m *Machine) Committed() {
	p := &m.pool
	p.mu.Lock()
	p.pending, p.read, p.signers = nil, false, nil
	p.mu.Unlock()
}

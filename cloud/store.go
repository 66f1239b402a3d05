package cloud

import (
	"errors"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// The two logs a cloud keeps, numbered as the ledger numbers them.
const (
	LogRecords uint8 = 0
	LogAccess  uint8 = 1
)

// ErrNotFound is returned for a record or entry the store does not hold.
var ErrNotFound = errors.New("not found")

// StoredRecord is a record as the cloud keeps it.
type StoredRecord struct {
	ID      [32]byte    `cbor:"1,keyasint"`
	Index   uint64      `cbor:"2,keyasint"` // its position in the records log
	Patient identity.ID `cbor:"3,keyasint"`
	// Key 4 was the record's vital sign, while record headers named it
	// (record format version 1): the cloud no longer learns it.
	Received int64  `cbor:"5,keyasint"` // Unix ms
	Bytes    []byte `cbor:"6,keyasint"` // the record as uploaded (record.Record's encoding); nil once erased
	// Erased: the record was erased at its patient's request (Store.Erase):
	// a tombstone that keeps the ID (the records log's leaf is its hash),
	// the position, the patient and the time, and nothing else.
	Erased bool `cbor:"7,keyasint,omitempty"`
}

// Store is the cloud's durable state. Each Append is one atomic, durable
// transaction: rows and the Merkle log's new nodes together, so that after a
// crash the log and its rows agree.
//
// The drivers are in packages of their own, so that this package does not
// link them: pebblestore (embedded, the default) and pgstore (PostgreSQL:
// one SQL transaction per Append, and a Lease). MemStore is a Store in
// memory for tests. Package storetest checks a driver against this
// contract.
//
// Implementations must be safe for concurrent use; the Service calls the
// Append methods for a log from one goroutine at a time. An Append that
// fails may still have committed (a PostgreSQL COMMIT whose answer was
// lost): after a failure the Service reads Size back, and if the append is
// there it acknowledges it; so Size must read the committed state.
type Store interface {
	// AppendRecords stores recs at positions oldSize.. of the records log
	// (recs[i].Index is oldSize+i) and the log's nodes, moving its size from
	// oldSize to newSize. It fails with merklelog.ErrConflict if the stored
	// size is not oldSize, and then stores nothing.
	AppendRecords(oldSize, newSize uint64, recs []StoredRecord, nodes []merklelog.Node) error
	// AppendAccess does the same for the access log.
	AppendAccess(oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error
	// Size returns the size of a log.
	Size(log uint8) (uint64, error)
	// GetNodes returns node hashes of a log (see merklelog.Store): an error
	// wrapping merklelog.ErrNotFound if one is not stored.
	GetNodes(log uint8, ids []compact.NodeID) ([][merklelog.HashSize]byte, error)
	// Record returns a stored record by ID, or an error wrapping ErrNotFound.
	Record(id [32]byte) (*StoredRecord, error)
	// RecordsFrom returns the records at positions from… of the records
	// log, in order, at most limit.
	RecordsFrom(from uint64, limit int) ([]StoredRecord, error)
	// Erase deletes the bytes of every record of patient that still has
	// them, durably before it returns, and returns their IDs (none if it
	// has none left). Each stays as a tombstone: ID, Index, Patient and
	// Received kept, Bytes nil, Erased set; the records log's
	// nodes are untouched, so the log, its checkpoints and its proofs stay
	// as they were. Afterwards no method returns the erased bytes, and the
	// store holds no live copy of them (what a driver's files may keep
	// until they are compacted or overwritten is the driver's to say).
	Erase(patient identity.ID) ([][32]byte, error)
	// Access lists a patient's access entries from index from on, at most limit.
	Access(patient identity.ID, from uint64, limit int) ([]cloudapi.AccessEntry, error)
	// Nonce records, durably before it returns, the nonce of a signed
	// request of requester, to be kept until expires (Unix ms). It reports
	// false, and records nothing, if the nonce is held already: a replay.
	// Two concurrent calls with one nonce report true for one at most.
	Nonce(requester identity.ID, nonce [16]byte, expires int64) (bool, error)
	// ForgetNonces forgets the nonces that expired before now (Unix ms).
	ForgetNonces(now int64) error
	// Close releases the store.
	Close() error
}

// logStore adapts one of a Store's logs to merklelog.Store. Rows staged
// before an append are committed with the append's nodes.
type logStore struct {
	st      Store
	log     uint8
	recs    []StoredRecord
	entries []cloudapi.AccessEntry
}

func (l *logStore) Size() (uint64, error) { return l.st.Size(l.log) }

func (l *logStore) GetNodes(ids []compact.NodeID) ([][merklelog.HashSize]byte, error) {
	return l.st.GetNodes(l.log, ids)
}

func (l *logStore) PutNodes(oldSize, newSize uint64, nodes []merklelog.Node) error {
	if l.log == LogRecords {
		return l.st.AppendRecords(oldSize, newSize, l.recs, nodes)
	}
	return l.st.AppendAccess(oldSize, newSize, l.entries, nodes)
}

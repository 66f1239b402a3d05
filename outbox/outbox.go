package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrFull is returned by Put when the items would not fit within
	// Options.MaxItems or Options.MaxBytes; nothing was stored.
	ErrFull = errors.New("outbox full")
	// ErrTooLarge is returned by Put when one item's Data alone is larger
	// than Options.MaxBytes, so that it could never fit; nothing was stored.
	ErrTooLarge = errors.New("item larger than the outbox")
	// ErrClosed is returned by the methods of a closed Outbox, and by an
	// Uploader whose Outbox was closed.
	ErrClosed = errors.New("outbox closed")
	// ErrCorrupt is returned when the outbox's database holds something
	// the outbox did not write.
	ErrCorrupt = errors.New("outbox corrupt")
)

// Defaults of Options.
const (
	DefaultMaxItems = 1 << 20
	DefaultMaxBytes = 256 << 20
)

// maxGroup bounds the Puts and Acks committed together in one transaction.
const maxGroup = 256

// fileName is the database file in the directory given to Open.
const fileName = "outbox.db"

// lockTimeout bounds the wait for the database file's lock, which another
// process using the outbox holds: Open then fails instead of hanging.
const lockTimeout = time.Second

// fillPercent is how full bbolt fills the pages it splits. Items are
// appended in key order, so a split page is never written into again: full
// pages make the file and every commit smaller than bbolt's default of half.
const fillPercent = 1.0

// boltOptions are the options of the outbox's database. NoSync is false:
// every commit fsyncs. The freelist is not written at every commit but
// rebuilt by Open, in a hash map.
func boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:        lockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	}
}

// Item is one record waiting in the outbox.
type Item struct {
	ID       [32]byte // the record's ID; one pending item per ID
	Data     []byte   // the encoded record
	Enqueued int64    // Unix milliseconds; Put sets it to now if zero
}

// Options configures an Outbox. The zero value is usable.
type Options struct {
	// MaxItems and MaxBytes bound the items pending and the sum of their
	// Data (0: DefaultMaxItems, DefaultMaxBytes).
	MaxItems int
	MaxBytes int64
	// Now gives the enqueue time of items put with Enqueued zero
	// (nil: time.Now).
	Now func() time.Time
}

// Outbox is a durable FIFO queue of items; see the package documentation.
// Its methods are safe for concurrent use.
type Outbox struct {
	db     *bolt.DB
	opts   Options
	commit func(*bolt.Tx) error // commits a write transaction durably; tests inject faults

	life   sync.RWMutex // held shared by every call, exclusively by Close
	closed bool
	reqs   chan *op
	done   chan struct{} // closed when the committer has returned

	// Owned by the committer goroutine (and by Open before it starts).
	index map[[32]byte]entry // the pending items
	next  uint64             // the next sequence number
	// The stored next sequence number is rewritten only when the newest
	// item is acked: otherwise that item's key records it. Writing it in
	// every commit would add the page that holds it (far from the tail of
	// the queue) to every commit's writes.
	storedNext uint64 // as stored (0: not stored)
	tailLive   bool   // whether the item next-1 is pending
	g          group  // reused by apply

	count   atomic.Int64
	bytes   atomic.Int64
	nextPub atomic.Uint64 // next, as of the last commit
	// head is at most the sequence number of the oldest pending item:
	// where Peek starts, so as not to walk the pages of acked items.
	head atomic.Uint64

	sigMu     sync.Mutex
	sig       chan struct{} // closed and replaced at every change
	sigClosed bool
}

type entry struct {
	seq  uint64
	size int64
}

// op is one Put, Ack or Mark waiting for the committer.
type op struct {
	put   []Item
	ack   [][32]byte
	marks []Mark // written with put, if it is stored; or alone
	done  chan error
}

// A Mark is a small named value the outbox keeps for its owner in the same
// database, written in the same transaction as a Put (PutMarked), so that
// what the owner knows of its items (the gateway: each device's last
// sequence number) is durable with them. A Mark whose Value is nil
// removes its key.
type Mark struct {
	Key   string
	Value []byte
}

// marksBucket holds the marks.
var marksBucket = []byte("marks")

// Open opens (or creates) the outbox in dir: one database file, created
// with mode 0600. Open fails if another process has the outbox open.
func Open(dir string, opts Options) (*Outbox, error) {
	if opts.MaxItems <= 0 {
		opts.MaxItems = DefaultMaxItems
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	if err := checkNotPebble(dir); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, fileName), 0o600, boltOptions())
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open outbox %s: in use by another process (lock not free after %v): %w", dir, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", dir, err)
	}
	o := &Outbox{
		db:     db,
		opts:   opts,
		commit: (*bolt.Tx).Commit,
		reqs:   make(chan *op, maxGroup),
		done:   make(chan struct{}),
		sig:    make(chan struct{}),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err == nil {
		err = o.load()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", dir, err)
	}
	go o.run()
	return o, nil
}

// checkNotPebble refuses a directory that holds an outbox of the earlier
// versions, which kept it in Pebble: its pending items would be left
// behind unseen.
func checkNotPebble(dir string) error {
	for _, pattern := range []string{"MANIFEST-*", "OPTIONS-*"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		if len(m) > 0 {
			return fmt.Errorf("the directory holds a Pebble database (%s) of an earlier version: drain it with that version, or move it away", filepath.Base(m[0]))
		}
	}
	return nil
}

// load rebuilds the in-memory state from the database: at Open, and after
// a commit reported failed that the database nonetheless holds.
func (o *Outbox) load() error {
	index := make(map[[32]byte]entry)
	next, storedNext := uint64(1), uint64(0) // sequence numbers start at 1
	var head uint64
	var count, size int64
	tailLive := false
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return fmt.Errorf("%w: no bucket %q", ErrCorrupt, bucketName)
		}
		if v := b.Get(nextKey); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("%w: next sequence of %d bytes", ErrCorrupt, len(v))
			}
			next = binary.BigEndian.Uint64(v)
			storedNext = next
		}
		c := b.Cursor()
		for k, v := c.Seek(queueLower); bytes.HasPrefix(k, queueLower); k, v = c.Next() {
			seq, err := decodeKey(k)
			if err != nil {
				return err
			}
			item, err := decodeValue(v)
			if err != nil {
				return fmt.Errorf("item %d: %w", seq, err)
			}
			if _, dup := index[item.ID]; dup {
				return fmt.Errorf("%w: item %x stored twice", ErrCorrupt, item.ID[:8])
			}
			index[item.ID] = entry{seq: seq, size: int64(len(item.Data))}
			if count == 0 {
				head = seq
			}
			count++
			size += int64(len(item.Data))
			if seq >= next {
				next = seq + 1
			}
			tailLive = seq+1 == next
		}
		return nil
	})
	if err != nil {
		return err
	}
	if count == 0 {
		head = next
	}
	o.index, o.next, o.storedNext, o.tailLive = index, next, storedNext, tailLive
	o.count.Store(count)
	o.bytes.Store(size)
	o.nextPub.Store(next)
	o.head.Store(head)
	return nil
}

// Put durably appends items, in order, and returns once they are durable.
// Items whose ID is already pending (or repeated within items) are stored
// once. If the new items would not fit within the bounds, Put stores
// nothing and returns ErrFull (or ErrTooLarge if one item alone exceeds
// MaxBytes). If the commit fails, Put returns the error; as after a crash,
// the items may have been stored anyway, and putting them again stores
// nothing new. The caller must not modify the items' Data until Put returns.
func (o *Outbox) Put(items ...Item) error {
	if len(items) == 0 {
		return nil
	}
	return o.do(&op{put: items})
}

// PutMarked is Put that also writes marks, in the same transaction: if the
// items are stored (or were pending already), so are the marks; if Put
// fails, neither is.
func (o *Outbox) PutMarked(marks []Mark, items ...Item) error {
	return o.do(&op{put: items, marks: marks})
}

// SetMarks durably writes marks.
func (o *Outbox) SetMarks(marks ...Mark) error {
	if len(marks) == 0 {
		return nil
	}
	return o.do(&op{marks: marks})
}

// Marks returns the marks whose key starts with prefix.
func (o *Outbox) Marks(prefix string) (map[string][]byte, error) {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return nil, ErrClosed
	}
	out := map[string][]byte{}
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(marksBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
			out[string(k)] = bytes.Clone(v)
		}
		return nil
	})
	return out, err
}

// Ack durably removes the items with these IDs. Unknown IDs are ignored, so
// acking twice is harmless.
func (o *Outbox) Ack(ids ...[32]byte) error {
	if len(ids) == 0 {
		return nil
	}
	return o.do(&op{ack: ids})
}

func (o *Outbox) do(r *op) error {
	r.done = make(chan error, 1)
	o.life.RLock()
	if o.closed {
		o.life.RUnlock()
		return ErrClosed
	}
	o.reqs <- r
	o.life.RUnlock()
	return <-r.done
}

// Peek returns up to max of the oldest items not yet acknowledged, oldest
// first. The items are the caller's to keep.
func (o *Outbox) Peek(max int) ([]Item, error) {
	return o.peek(max, 0)
}

// peek is Peek that also stops before the Data would exceed maxBytes (if
// positive), though it always returns at least one item if there is one.
func (o *Outbox) peek(limit int, maxBytes int64) ([]Item, error) {
	if limit <= 0 {
		return nil, nil
	}
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return nil, ErrClosed
	}
	// Items are committed in sequence order and every later Put gets a
	// larger sequence number, so the oldest item seen in any snapshot is
	// a lower bound of the pending ones from then on: Peek starts there
	// and misses no pending item.
	next := o.nextPub.Load()
	tx, err := o.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("peek: %w", err)
	}
	defer tx.Rollback()
	c := tx.Bucket(bucketName).Cursor()
	out := make([]Item, 0, min(limit, o.Len()+1))
	var arena []byte // the items' Data, in one allocation per few items
	var size int64
	k, v := c.Seek(seqKey(o.head.Load()))
	if bytes.HasPrefix(k, queueLower) {
		seq, err := decodeKey(k)
		if err != nil {
			return nil, fmt.Errorf("peek: %w", err)
		}
		o.advanceHead(seq)
	} else {
		o.advanceHead(next) // everything before next was acked
	}
	for ; bytes.HasPrefix(k, queueLower) && len(out) < limit; k, v = c.Next() {
		item, err := decodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("peek %x: %w", k, err)
		}
		size += int64(len(item.Data))
		if maxBytes > 0 && len(out) > 0 && size > maxBytes {
			break
		}
		// Copy the Data out of the database's memory map.
		if d := len(item.Data); d > cap(arena)-len(arena) {
			// Room for the rest if they are this size, up to 64 KiB.
			room := 64 << 10
			if rest := limit - len(out); d <= room/rest {
				room = d * rest
			}
			arena = make([]byte, 0, max(d, room))
		}
		n := len(arena)
		arena = append(arena, item.Data...)
		item.Data = arena[n:len(arena):len(arena)]
		out = append(out, item)
	}
	return out, nil
}

// advanceHead moves the head forward to seq.
func (o *Outbox) advanceHead(seq uint64) {
	for {
		h := o.head.Load()
		if seq <= h || o.head.CompareAndSwap(h, seq) {
			return
		}
	}
}

// Len returns the number of items pending.
func (o *Outbox) Len() int { return int(o.count.Load()) }

// Bytes returns the sum of the pending items' Data.
func (o *Outbox) Bytes() int64 { return o.bytes.Load() }

// Close waits for the Puts and Acks in progress and closes the outbox.
// Later calls return ErrClosed; closing twice is harmless.
func (o *Outbox) Close() error {
	o.life.Lock()
	if o.closed {
		o.life.Unlock()
		return nil
	}
	o.closed = true
	close(o.reqs)
	o.life.Unlock()
	<-o.done
	o.sigMu.Lock()
	o.sigClosed = true
	close(o.sig)
	o.sigMu.Unlock()
	return o.db.Close()
}

// changed returns a channel closed at the next Put or Ack that changes the
// outbox, or already closed if the outbox is closed.
func (o *Outbox) changed() <-chan struct{} {
	o.sigMu.Lock()
	defer o.sigMu.Unlock()
	return o.sig
}

func (o *Outbox) isClosed() bool {
	o.sigMu.Lock()
	defer o.sigMu.Unlock()
	return o.sigClosed
}

func (o *Outbox) broadcast() {
	o.sigMu.Lock()
	defer o.sigMu.Unlock()
	if !o.sigClosed {
		close(o.sig)
		o.sig = make(chan struct{})
	}
}

// run is the committer: it takes the waiting Puts and Acks, in the order
// they arrived, and commits them in one synced transaction.
func (o *Outbox) run() {
	defer close(o.done)
	group := make([]*op, 0, maxGroup)
	for r := range o.reqs {
		group = append(group[:0], r)
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-o.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		o.apply(group)
		clear(group)
	}
}

// undo is how to revert one change of the index.
type undo struct {
	id   [32]byte
	prev entry
	had  bool
}

// group is the state of a group of Puts and Acks being staged: the
// committer changes the index in place, and reverts the changes if the
// transaction is not committed.
type group struct {
	o      *Outbox
	b      *bolt.Bucket // the bucket, in the group's write transaction
	writes int          // the keys put or deleted
	undo   []undo
	count  int64
	bytes  int64
	next   uint64
	tail   bool  // whether the item next-1 is pending
	fresh  []int // the items of the current Put to store
	key    []byte
	// vals holds the values put: bbolt keeps the slices it is given (not
	// the keys) until the transaction ends, so they are never overwritten
	// before then.
	vals []byte
}

// revert undoes the changes to the index back to a mark.
func (g *group) revert(mark int) {
	for i := len(g.undo) - 1; i >= mark; i-- {
		u := g.undo[i]
		if u.had {
			g.o.index[u.id] = u.prev
		} else {
			delete(g.o.index, u.id)
		}
	}
	g.undo = g.undo[:mark]
}

// put stages one Put: all of its new items, or none.
func (g *group) put(items []Item) error {
	o := g.o
	mark := len(g.undo)
	seq := g.next
	var size int64
	g.fresh = g.fresh[:0]
	for i := range items {
		id := items[i].ID
		if _, ok := o.index[id]; ok {
			continue // pending, or repeated within items
		}
		n := int64(len(items[i].Data))
		if n > o.opts.MaxBytes {
			g.revert(mark)
			return fmt.Errorf("%w: %d bytes, the outbox holds %d", ErrTooLarge, n, o.opts.MaxBytes)
		}
		o.index[id] = entry{seq: seq, size: n}
		g.undo = append(g.undo, undo{id: id})
		g.fresh = append(g.fresh, i)
		seq++
		size += n
	}
	fresh := int64(len(g.fresh))
	if g.count+fresh > int64(o.opts.MaxItems) || g.bytes+size > o.opts.MaxBytes {
		g.revert(mark)
		return fmt.Errorf("%w: %d items of %d bytes pending, %d more of %d bytes do not fit",
			ErrFull, g.count, g.bytes, fresh, size)
	}
	now := int64(0)
	for k, i := range g.fresh {
		stored := items[i]
		if stored.Enqueued == 0 {
			if now == 0 {
				now = o.opts.Now().UnixMilli()
			}
			stored.Enqueued = now
		}
		g.key = binary.BigEndian.AppendUint64(append(g.key[:0], kQueue), g.next+uint64(k))
		n := len(g.vals)
		g.vals = appendValue(g.vals, &stored)
		if err := g.b.Put(g.key, g.vals[n:len(g.vals):len(g.vals)]); err != nil {
			return err
		}
		g.writes++
	}
	if fresh > 0 {
		g.tail = true
	}
	g.next = seq
	g.count += fresh
	g.bytes += size
	return nil
}

// mark stages marks.
func (g *group) mark(tx *bolt.Tx, marks []Mark) error {
	b, err := tx.CreateBucketIfNotExists(marksBucket)
	if err != nil {
		return err
	}
	for _, m := range marks {
		var err error
		if m.Value == nil {
			err = b.Delete([]byte(m.Key))
		} else {
			err = b.Put([]byte(m.Key), bytes.Clone(m.Value))
		}
		if err != nil {
			return err
		}
		g.writes++
	}
	return nil
}

// ack stages one Ack.
func (g *group) ack(ids [][32]byte) error {
	o := g.o
	for _, id := range ids {
		e, ok := o.index[id]
		if !ok {
			continue
		}
		g.key = binary.BigEndian.AppendUint64(append(g.key[:0], kQueue), e.seq)
		if err := g.b.Delete(g.key); err != nil {
			return err
		}
		g.writes++
		delete(o.index, id)
		g.undo = append(g.undo, undo{id: id, prev: e, had: true})
		if e.seq+1 == g.next {
			g.tail = false
		}
		g.count--
		g.bytes -= e.size
	}
	return nil
}

// apply commits a group of Puts and Acks in one transaction and answers
// each.
func (o *Outbox) apply(ops []*op) {
	tx, err := o.db.Begin(true)
	if err != nil {
		for _, r := range ops {
			r.done <- fmt.Errorf("outbox commit: %w", err)
		}
		return
	}
	b := tx.Bucket(bucketName)
	b.FillPercent = fillPercent
	g := &o.g
	defer func() {
		g.b = nil
		if cap(g.vals) > 1<<20 || cap(g.undo) > 1<<14 {
			g.vals, g.undo, g.fresh = nil, nil, nil // do not keep a large group's buffers
		}
	}()
	*g = group{o: o, b: b, count: o.count.Load(), bytes: o.bytes.Load(), next: o.next, tail: o.tailLive,
		undo: g.undo[:0], fresh: g.fresh[:0], key: g.key[:0], vals: g.vals[:0]}
	errs := make([]error, len(ops))
	var fatal error
	for i, r := range ops {
		switch {
		case r.put != nil:
			errs[i] = g.put(r.put)
		case r.ack != nil:
			errs[i] = g.ack(r.ack)
		}
		if errs[i] == nil && len(r.marks) > 0 {
			errs[i] = g.mark(tx, r.marks)
		}
		if errs[i] != nil && !errors.Is(errs[i], ErrFull) && !errors.Is(errs[i], ErrTooLarge) {
			fatal = errs[i] // a transaction error: commit nothing
			break
		}
	}
	wrote := g.writes > 0
	txid, committing := tx.ID(), false
	if fatal == nil && wrote {
		if !g.tail && g.next != o.storedNext {
			fatal = b.Put(nextKey, binary.BigEndian.AppendUint64(nil, g.next))
		}
		if fatal == nil {
			committing = true
			fatal = o.commit(tx)
		}
	}
	if fatal != nil || !wrote {
		tx.Rollback() // ErrTxClosed if Commit ended it
	}
	if fatal != nil {
		g.revert(0)
		reloaded := false
		if committing && o.committedAnyway(txid) {
			// The commit failed late (its fsync, say), yet the database
			// holds it: follow the database, so that the index and the
			// sequence agree with what Peek sees and Open will load.
			if err := o.load(); err != nil {
				fatal = errors.Join(fatal, fmt.Errorf("reload: %w", err))
			} else {
				reloaded = true
			}
		}
		for i, r := range ops {
			if errs[i] == nil || errs[i] == fatal {
				errs[i] = fmt.Errorf("outbox commit: %w", fatal)
			}
			r.done <- errs[i] // a Put refused as full keeps its ErrFull
		}
		if reloaded {
			o.broadcast()
		}
		return
	}
	if wrote {
		o.next = g.next
		o.tailLive = g.tail
		if !g.tail {
			o.storedNext = g.next
		}
		o.count.Store(g.count)
		o.nextPub.Store(g.next)
		o.bytes.Store(g.bytes)
		if g.count == 0 {
			o.advanceHead(g.next)
		}
		o.broadcast()
	}
	for i, r := range ops {
		r.done <- errs[i]
	}
}

// committedAnyway reports whether the database holds the write transaction
// txid although its commit failed.
func (o *Outbox) committedAnyway(txid int) bool {
	rtx, err := o.db.Begin(false)
	if err != nil {
		return false
	}
	defer rtx.Rollback()
	return rtx.ID() >= txid
}

package outbox

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Held is an item the cloud has acknowledged with a receipt, kept until
// its proof of inclusion verifies (Release). Hold is the Sender's opaque
// note of what to prove (for the gateway: the cloud, the record's index
// and the receipt's deadline).
type Held struct {
	Item
	Hold []byte
}

// heldBucket holds the held items, by ID: version(1) Enqueued(8)
// len(Hold)(4) Hold Data.
var heldBucket = []byte("held")

// MaxHold bounds a Held's Hold.
const MaxHold = 4 << 10

// hold durably moves items from the queue to the held area: first it
// stores them held, then acks them, so that a crash in between leaves an
// item in both (sent again: a duplicate for the cloud), never in neither.
func (o *Outbox) hold(hs []Held) error {
	if len(hs) == 0 {
		return nil
	}
	if err := o.update(func(b *bolt.Bucket) error {
		for _, h := range hs {
			if len(h.Hold) > MaxHold {
				return fmt.Errorf("outbox: a hold of %d bytes, limit %d", len(h.Hold), MaxHold)
			}
			v := []byte{valueVersion}
			v = binary.BigEndian.AppendUint64(v, uint64(h.Enqueued))
			v = binary.BigEndian.AppendUint32(v, uint32(len(h.Hold)))
			v = append(append(v, h.Hold...), h.Data...)
			if err := b.Put(bytes.Clone(h.ID[:]), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	ids := make([][32]byte, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
	}
	return o.Ack(ids...)
}

// Release durably forgets held items: their proofs verified. Unknown IDs
// are ignored.
func (o *Outbox) Release(ids ...[32]byte) error {
	if len(ids) == 0 {
		return nil
	}
	return o.update(func(b *bolt.Bucket) error {
		for _, id := range ids {
			if err := b.Delete(id[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Requeue durably moves held items back to the queue, to be sent again
// (their receipt was not honoured): first it puts them, then forgets them
// held, under the holds given (an item held anew meanwhile stays held).
func (o *Outbox) Requeue(hs ...Held) error {
	if len(hs) == 0 {
		return nil
	}
	items := make([]Item, len(hs))
	ids := make([][32]byte, len(hs))
	for i, h := range hs {
		items[i], ids[i] = h.Item, h.ID
	}
	if err := o.Put(items...); err != nil {
		return err
	}
	// Only the holds requeued: once put, an item may be sent again and
	// held anew, under another hold, before this runs, and that one stays.
	return o.update(func(b *bolt.Bucket) error {
		for _, h := range hs {
			if _, hold, _, ok := decodeHeld(b.Get(h.ID[:])); !ok || !bytes.Equal(hold, h.Hold) {
				continue
			}
			if err := b.Delete(h.ID[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// HeldItems returns up to max held items, by ID. The items are the
// caller's to keep.
func (o *Outbox) HeldItems(max int) ([]Held, error) {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return nil, ErrClosed
	}
	var out []Held
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(heldBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			enqueued, hold, data, ok := decodeHeld(v)
			if len(k) != 32 || !ok {
				return fmt.Errorf("%w: held item %x", ErrCorrupt, k)
			}
			h := Held{Hold: bytes.Clone(hold)}
			copy(h.ID[:], k)
			h.Enqueued, h.Data = enqueued, bytes.Clone(data)
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// HeldLen returns the number of held items.
func (o *Outbox) HeldLen() int {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return 0
	}
	n := 0
	o.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(heldBucket); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

// update runs f on the held bucket in one durable transaction, beside the
// committer's (bbolt runs one write transaction at a time).
func (o *Outbox) update(f func(*bolt.Bucket) error) error {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return ErrClosed
	}
	tx, err := o.db.Begin(true)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	b, err := tx.CreateBucketIfNotExists(heldBucket)
	if err == nil {
		err = f(b)
	}
	if err != nil {
		tx.Rollback()
		return fmt.Errorf("outbox: %w", err)
	}
	if err := o.commit(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// decodeHeld splits a held item's value (hold writes it): the time it was
// enqueued, its hold and its data, aliasing v; ok is false if v is not
// such a value.
func decodeHeld(v []byte) (enqueued int64, hold, data []byte, ok bool) {
	if len(v) < 13 || v[0] != valueVersion {
		return 0, nil, nil, false
	}
	n := int(binary.BigEndian.Uint32(v[9:13]))
	if len(v) < 13+n {
		return 0, nil, nil, false
	}
	return int64(binary.BigEndian.Uint64(v[1:9])), v[13 : 13+n], v[13+n:], true
}

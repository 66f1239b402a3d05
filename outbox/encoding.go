package outbox

import (
	"encoding/binary"
	"fmt"
)

// bucketName is the bbolt bucket that holds the outbox's keys.
var bucketName = []byte("outbox")

// Keys: one prefix byte, then fixed-width fields.
const (
	kQueue = 'q' // q seq(8) → value (an item)
	kNext  = 'n' // n → the next sequence number (8)
)

// valueVersion is the first byte of every stored item, so that the layout
// can change without misreading old outboxes.
const valueVersion = 1

// valueHeader is the size of a stored item without its Data: the version,
// the ID and the enqueue time.
const valueHeader = 1 + 32 + 8

var (
	queueLower = []byte{kQueue} // the prefix of every queue key
	nextKey    = []byte{kNext}
)

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kQueue}, seq)
}

// appendValue appends an item's stored form to dst:
// version(1) ID(32) Enqueued(8, big-endian two's complement) Data.
func appendValue(dst []byte, it *Item) []byte {
	dst = append(dst, valueVersion)
	dst = append(dst, it.ID[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(it.Enqueued))
	return append(dst, it.Data...)
}

// decodeValue decodes a stored item. The Data it returns aliases v.
func decodeValue(v []byte) (Item, error) {
	if len(v) < valueHeader {
		return Item{}, fmt.Errorf("%w: stored item of %d bytes, want at least %d", ErrCorrupt, len(v), valueHeader)
	}
	if v[0] != valueVersion {
		return Item{}, fmt.Errorf("%w: stored item version %d", ErrCorrupt, v[0])
	}
	var it Item
	copy(it.ID[:], v[1:33])
	it.Enqueued = int64(binary.BigEndian.Uint64(v[33:41]))
	it.Data = v[valueHeader:]
	return it, nil
}

// decodeKey returns the sequence number of a queue key.
func decodeKey(k []byte) (uint64, error) {
	if len(k) != 9 || k[0] != kQueue {
		return 0, fmt.Errorf("%w: queue key %x", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

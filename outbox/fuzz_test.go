package outbox

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeValue: decoding a stored item never panics, fails only with
// ErrCorrupt, and what it accepts re-encodes to the same bytes.
func FuzzDecodeValue(f *testing.F) {
	it := item(1, 2)
	it.Enqueued = -5
	f.Add(appendValue(nil, &it))
	f.Add(appendValue(nil, &Item{}))
	f.Add([]byte{})
	f.Add([]byte{valueVersion})
	f.Add(append([]byte{2}, make([]byte, valueHeader)...))
	f.Fuzz(func(t *testing.T, v []byte) {
		it, err := decodeValue(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if got := appendValue(nil, &it); !bytes.Equal(got, v) {
			t.Fatalf("re-encoded %x, want %x", got, v)
		}
	})
}

// FuzzDecodeKey: the same for queue keys.
func FuzzDecodeKey(f *testing.F) {
	f.Add(seqKey(7))
	f.Add([]byte{kQueue})
	f.Add(nextKey)
	f.Fuzz(func(t *testing.T, k []byte) {
		seq, err := decodeKey(k)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if got := seqKey(seq); !bytes.Equal(got, k) {
			t.Fatalf("re-encoded %x, want %x", got, k)
		}
	})
}

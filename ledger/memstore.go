package ledger

import (
	"bytes"
	"sort"
	"strings"
)

// MemStore is committed state in memory: an IterStore for tests, examples
// and tools that run the state machine without a database.
type MemStore map[string][]byte

// Get implements Store.
func (m MemStore) Get(k []byte) ([]byte, error) {
	v, ok := m[string(k)]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

// Iterate implements IterStore, in key order.
func (m MemStore) Iterate(prefix []byte, fn func(k, v []byte) bool) error {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), bytes.Clone(m[k])) {
			break
		}
	}
	return nil
}

// Apply commits a block's writes (Result.Writes), as package chain does
// after a block.
func (m MemStore) Apply(ws []Write) {
	for _, w := range ws {
		if w.Value == nil {
			delete(m, string(w.Key))
		} else {
			m[string(w.Key)] = bytes.Clone(w.Value)
		}
	}
}

package ledger

import (
	"bytes"
	"sort"
	"strings"
)

// memStore is an in-memory IterStore for tests.
type memStore map[string][]byte

func (m memStore) Get(k []byte) ([]byte, error) {
	v, ok := m[string(k)]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

func (m memStore) Iterate(prefix []byte, fn func(k, v []byte) bool) error {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), m[k]) {
			break
		}
	}
	return nil
}

func (m memStore) apply(ws []Write) {
	for _, w := range ws {
		if w.Value == nil {
			delete(m, string(w.Key))
		} else {
			m[string(w.Key)] = bytes.Clone(w.Value)
		}
	}
}

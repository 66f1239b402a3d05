package chain

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/vitalchain/vitalchain/ledger"
)

// pebbleStore reads the committed ledger state from Pebble (the database,
// or a snapshot of it).
type pebbleStore struct{ db pebble.Reader }

var _ ledger.IterStore = pebbleStore{}

func (s pebbleStore) Get(k []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

func (s pebbleStore) Iterate(prefix []byte, fn func(k, v []byte) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// prefixEnd returns the smallest key greater than every key with prefix.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Metadata keys, outside the ledger's key space (whose prefixes are letters).
var (
	metaHeight  = []byte{0, 'h'}
	metaAppHash = []byte{0, 'a'}
	// treePrefix prefixes the state tree's nodes (hash → encoding).
	treePrefix = []byte{0, 't'}
)

// treeNodes reads the state tree's nodes from Pebble; the tree writes
// through a statetree.Pending, which the commit's batch flushes.
type treeNodes struct{ r pebble.Reader }

func treeKey(k []byte) []byte { return append(bytes.Clone(treePrefix), k...) }

func (n treeNodes) Get(k []byte) ([]byte, error) { return pebbleStore{n.r}.Get(treeKey(k)) }

func (n treeNodes) Set([]byte, []byte) error {
	return errors.New("state tree nodes are written by the commit's batch")
}

func (n treeNodes) Delete([]byte) error {
	return errors.New("state tree nodes are written by the commit's batch")
}

// openStore opens (or creates) the app's Pebble store in dir.
func openStore(dir string) (*pebble.DB, error) {
	cache := pebble.NewCache(64 << 20)
	defer cache.Unref()
	opts := &pebble.Options{MemTableSize: 16 << 20, Logger: quietPebble{}, Cache: cache}
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open ledger store %s: %w", dir, err)
	}
	return db, nil
}

// quietPebble drops Pebble's informational logs; errors reach us as errors.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

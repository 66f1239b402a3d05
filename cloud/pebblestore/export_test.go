package pebblestore

import "github.com/cockroachdb/pebble/v2"

// DowngradeLayout makes the store look as layout 1 wrote it: no index of
// records by patient, no layout key.
func (s *Store) DowngradeLayout() error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{kByPat}, []byte{kByPat + 1}, nil); err != nil {
		return err
	}
	if err := b.Delete(metaLayout, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

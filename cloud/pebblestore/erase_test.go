package pebblestore_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/storetest"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// secretOf is the ciphertext of the test record at index i: random-looking
// bytes found nowhere else, which no compression of the store's tables
// shortens or shares with another record's.
func secretOf(i uint64) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "ciphertext %d", i))
	return h[:]
}

// appendSecrets appends one record per owner, each in a synced append of
// its own, with secretOf(index) as its bytes.
func appendSecrets(t *testing.T, log *merklelog.Log, ls *storetest.RecordsLog, owners ...identity.ID) {
	t.Helper()
	for _, p := range owners {
		first := log.Size()
		var id [32]byte
		id[0] = 0xee
		id[31] = byte(first)
		ls.Recs = []cloud.StoredRecord{{ID: id, Index: first, Patient: p, Received: int64(first), Bytes: secretOf(first)}}
		if _, err := log.AppendLeafHashes(merklelog.HashLeaf(id[:])); err != nil {
			t.Fatal(err)
		}
	}
}

// filesHolding lists the files under dir that hold b.
func filesHolding(t *testing.T, dir string, b []byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, b) {
			out = append(out, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// After Erase, and once the store is closed, no file of the store holds a
// byte string of an erased record: not its tables, not its write-ahead
// log. Another patient's records are still there. A store written before
// the index of records by patient existed erases its older records too.
func TestEraseLeavesNothingInTheFiles(t *testing.T) {
	t.Parallel()
	for _, layout1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("layout1=%v", layout1), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			patient, other := identity.ID{1}, identity.ID{2}
			owners := []identity.ID{patient, other, patient, other, patient, patient}
			st := open(t, dir)
			ls := &storetest.RecordsLog{Store: st}
			log, err := merklelog.Open(ls)
			if err != nil {
				t.Fatal(err)
			}
			appendSecrets(t, log, ls, owners[:4]...)
			if layout1 {
				if err := st.DowngradeLayout(); err != nil {
					t.Fatal(err)
				}
			}
			// Some of it flushed to tables by a reopen, some in the log only.
			st.Close()
			st = open(t, dir)
			ls.Store = st
			appendSecrets(t, log, ls, owners[4:]...)
			cp := log.Checkpoint()
			for i := range owners {
				if len(filesHolding(t, dir, secretOf(uint64(i)))) == 0 {
					t.Fatalf("record %d is in no file before the erasure: the test cannot see what it looks for", i)
				}
			}

			ids, err := st.Erase(patient)
			if err != nil || len(ids) != 4 {
				t.Fatalf("Erase: %d records, %v; want 4", len(ids), err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			for i, p := range owners {
				files := filesHolding(t, dir, secretOf(uint64(i)))
				if p == patient && len(files) > 0 {
					t.Errorf("erased record %d is still in %v", i, files)
				}
				if p == other && len(files) == 0 {
					t.Errorf("the other patient's record %d is gone", i)
				}
			}
			st = open(t, dir)
			defer st.Close()
			ls.Store = st
			reopened, err := merklelog.Open(ls)
			if err != nil || reopened.Checkpoint() != cp {
				t.Fatalf("the records log after the erasure: %+v, %v; want %+v", reopened.Checkpoint(), err, cp)
			}
			for i, p := range owners {
				var id [32]byte
				id[0], id[31] = 0xee, byte(i)
				r, err := st.Record(id)
				if err != nil || r.Erased != (p == patient) || (p == other) != bytes.Equal(r.Bytes, secretOf(uint64(i))) {
					t.Errorf("record %d after the erasure: %+v, %v", i, r, err)
				}
			}
		})
	}
}

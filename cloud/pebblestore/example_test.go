package pebblestore_test

import (
	"fmt"
	"os"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// A store in a directory keeps what was appended across a restart. (A cloud
// hands the store to cloud.New, which does the appending.)
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "cloud")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	st, err := pebblestore.Open(dir)
	if err != nil {
		panic(err)
	}
	rec := cloud.StoredRecord{ID: [32]byte{0xab}, Patient: identity.ID{1}, Bytes: []byte("sealed record")}
	leaf := merklelog.Node{ID: compact.NewNodeID(0, 0), Hash: merklelog.HashLeaf(rec.ID[:])}
	if err := st.AppendRecords(0, 1, []cloud.StoredRecord{rec}, []merklelog.Node{leaf}); err != nil {
		panic(err)
	}
	if err := st.Close(); err != nil {
		panic(err)
	}

	st, err = pebblestore.Open(dir) // after a restart
	if err != nil {
		panic(err)
	}
	defer st.Close()
	n, err := st.Size(cloud.LogRecords)
	if err != nil {
		panic(err)
	}
	got, err := st.Record(rec.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(n, string(got.Bytes))
	// Output: 1 sealed record
}

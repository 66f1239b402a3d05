package cloud_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// A provider signs a request to read a record, for one cloud; the cloud
// parses it (and, in Service.Read, checks that it names this cloud, its
// times, its signature, its nonce and the provider's grant).
func ExampleNewRequest() {
	provider, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		panic(err)
	}
	var recordID [32]byte // from an alert on the ledger
	recordID[0] = 0xab
	cloudID := identity.ID{0xc1} // the cloud's ID, from the ledger
	req, err := cloudapi.NewRequest(provider, cloudID, cloudapi.OpRead, recordID, 0, time.UnixMilli(1_700_000_000_000))
	if err != nil {
		panic(err)
	}

	r, err := cloudapi.ParseRequest(req)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Op, r.Requester == provider.Public().ID(), r.Record == recordID, r.Cloud == cloudID, r.Expires-r.Time, len(r.Sig))

	_, err = cloudapi.ParseRequest(req[:len(req)-1])
	fmt.Println(errors.Is(err, cloud.ErrBadRequest))
	// Output:
	// read true true true 60000 64
	// true
}

// A memory store stands in for a durable one (pebblestore) in tests and
// trials; cloud.New takes either. Here it is used directly, as the Service
// uses it.
func ExampleNewMemStore() {
	st := cloud.NewMemStore()
	defer st.Close()
	rec := cloud.StoredRecord{ID: [32]byte{0xab}, Patient: identity.ID{1}, Bytes: []byte("sealed record")}
	leaf := merklelog.Node{ID: compact.NewNodeID(0, 0), Hash: merklelog.HashLeaf(rec.ID[:])}
	if err := st.AppendRecords(0, 1, []cloud.StoredRecord{rec}, []merklelog.Node{leaf}); err != nil {
		panic(err)
	}
	n, _ := st.Size(cloud.LogRecords)
	got, _ := st.Record(rec.ID)
	_, err := st.Record([32]byte{0xcd})
	fmt.Println(n, string(got.Bytes), errors.Is(err, cloud.ErrNotFound))
	// Output: 1 sealed record true
}

package cloud_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/identity"
)

// A provider signs a request to read a record; the cloud parses it (and,
// in Service.Read, checks its time, nonce, signature and the provider's
// grant).
func ExampleNewRequest() {
	provider, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		panic(err)
	}
	var recordID [32]byte // from an alert on the ledger
	recordID[0] = 0xab
	req, err := cloud.NewRequest(provider, cloud.OpRead, recordID, 0, time.UnixMilli(1_700_000_000_000))
	if err != nil {
		panic(err)
	}

	r, err := cloud.ParseRequest(req)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Op, r.Requester == provider.Public().ID(), r.Record == recordID, r.Time, len(r.Sig))

	_, err = cloud.ParseRequest(req[:len(req)-1])
	fmt.Println(errors.Is(err, cloud.ErrBadRequest))
	// Output:
	// read true true 1700000000000 64
	// true
}

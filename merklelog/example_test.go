package merklelog_test

import (
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/merklelog"
)

// ExampleLog appends two blocks of records, anchors each block's checkpoint
// with a consistency proof from the previous anchor, and proves a record's
// inclusion to someone who knows only the anchored checkpoint.
func ExampleLog() {
	log, err := merklelog.Open(merklelog.NewMemStore())
	if err != nil {
		panic(err)
	}
	anchored := log.Checkpoint() // the empty tree

	for _, block := range [][][]byte{
		{[]byte("record 0"), []byte("record 1"), []byte("record 2")},
		{[]byte("record 3"), []byte("record 4")},
	} {
		first, err := log.Append(block...)
		if err != nil {
			panic(err)
		}
		cp := log.Checkpoint()
		proof, err := log.ConsistencyProof(anchored.Size, cp.Size)
		if err != nil {
			panic(err)
		}
		// The chain accepts the anchor only if this succeeds.
		err = merklelog.VerifyConsistency(anchored, cp, proof)
		fmt.Printf("block [%d, %d) root %x… proof %d hashes, consistent: %v\n",
			first, cp.Size, cp.Root[:4], len(proof), err == nil)
		anchored = cp
	}

	proof, err := log.InclusionProof(1, anchored.Size)
	if err != nil {
		panic(err)
	}
	fmt.Println("record 1 included:", merklelog.VerifyInclusion([]byte("record 1"), 1, anchored, proof) == nil)
	err = merklelog.VerifyInclusion([]byte("record X"), 1, anchored, proof)
	fmt.Println("forged record rejected:", errors.Is(err, merklelog.ErrProofMismatch))
	// Output:
	// block [0, 3) root 11139f0a… proof 0 hashes, consistent: true
	// block [3, 5) root ab5ba240… proof 4 hashes, consistent: true
	// record 1 included: true
	// forged record rejected: true
}

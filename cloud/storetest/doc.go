// Package storetest is the conformance suite of cloud.Store drivers: the
// behaviour the cloud's Service relies on, written once and run by every
// driver's tests (cloud.MemStore, pebblestore and pgstore).
//
// A driver's test calls Run with a function that opens a new, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) cloud.Store {
//			st, err := pebblestore.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return st
//		})
//	}
//
// What only some drivers promise (durability across a reopen, how opening
// fails) is for the driver's own tests.
package storetest

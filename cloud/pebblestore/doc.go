// Package pebblestore is the cloud's embedded storage driver: a cloud.Store
// on Pebble, a log-structured key-value store in a local directory.
//
// Every append of the records or access log (its rows, the Merkle log's new
// nodes and the log's size) is one Pebble batch committed with fsync, so a
// record the cloud acknowledges survives a crash, and the log and its rows
// agree after one. Records and access entries are stored in CBOR; the
// records log is indexed by position and by patient, the access log by
// patient. A store written before the index of records by patient existed
// gets it built at Open (a scan of the records, once).
//
// Erase (a patient's erasure) writes tombstones in one synced batch, then
// flushes and compacts the erased records' key range; the store deletes
// Pebble's obsolete files and does not recycle its write-ahead logs, so
// that once an erasure has returned and the obsolete files are cleaned (at
// the latest when the store closes), no file of the store holds an erased
// record's bytes. The filesystem frees deleted files' blocks without
// overwriting them.
//
// Package cloud does not import this package, so that binaries that only
// talk to a cloud (the patient's gateway, through cloudapi.Client) do not link
// Pebble; the cloud's command opens a Store here and hands it to cloud.New.
package pebblestore

// Package testbed runs VitalChain in one process: for the demo, the
// end-to-end benchmark, and the end-to-end tests of the parts. There is one
// world, built of three layers that a test takes as far as it needs:
//
//   - Chain: a network of authorities (package chain's LocalNet) with a
//     client per node and helpers to register actors and submit their
//     transactions;
//   - Cloud: a cloud service on a chain, with its store and its HTTP API;
//   - System: the whole of it, as `vitalchain demo` runs it: the chain, a
//     cloud, patients' gateways (each with its embedded MQTT broker) and
//     wearables, providers, and the overlay of cluster 4 that re-elects its
//     head. It counts what happens, plays the paper's scenario, drains, and
//     checks the invariants (Summary).
//
// Every goroutine a System starts is tracked and ended by Stop; a Chain and
// a Cloud own no goroutine of their own beyond their nodes and server,
// which their Stop and Close end.
package testbed

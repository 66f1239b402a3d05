// Package identity holds the keys of VitalChain's actors: patients' gateways,
// providers, wearable devices, the cloud and the Cluster Heads (authorities).
//
// Every actor has an Ed25519 signing key. Patients and providers, who receive
// session keys, also have an HPKE (RFC 9180) key pair, in one of two suites:
// DHKEM(X25519) or the hybrid post-quantum MLKEM768X25519, which is the
// default because health records must stay confidential for decades.
//
// Keys have readable typed string encodings whose prefix says what they are,
// for example
//
//	vc-patient-ed25519-pub:ZsQw…
//	vc-provider-mlkem768x25519-pub:…
//	vc-device-ed25519-sec:…
//
// and end in a four-byte checksum, so a mistyped key is refused rather than
// read as another key.
//
// Signatures are verified everywhere with one rule set, ZIP-215 (the rules of
// github.com/hdevalence/ed25519consensus, which CometBFT's Ed25519 also
// follows), so that a signature never passes in one place and fails in
// another, and batch verification accepts exactly what single verification
// accepts.
package identity

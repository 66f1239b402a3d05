// Package device simulates the wearables a patient carries: a continuous
// glucose monitor, a pulse oximeter, a blood-pressure cuff, a thermometer,
// an activity tracker and a respiratory band, each of which signs its
// readings with its own device key in the wire format of package reading.
// It is what `vitalchain device` and `vitalchain demo` run.
//
// Like go.etcd.io/raft, the package does no I/O and has no clock and no
// global random source: time and a seed come in, signed readings go out.
// Transport (MQTT) and scheduling (tickers) belong to the caller.
//
// # The model
//
// A Profile is one patient's physiology: for every vital sign a baseline, a
// measurement noise, a slow drift, a daily (circadian) rhythm with its
// amplitude and time of peak, and a device resolution; plus meals, which
// raise glucose for about three hours, and a daily activity pattern, which
// drives steps and raises the heart rate. NewProfile draws a plausible adult
// from a seed. Outside episodes the values stay within the bounds of
// contract.DefaultRules by construction (the noise is bounded), so a
// NewProfile patient raises no alert unless an episode is under way.
//
// An Episode is something a clinician would recognise: hyperglycaemia,
// hypoglycaemia, tachycardia, a hypertensive crisis, desaturation or fever.
// Each has an onset, a ramp to a plateau, the plateau and a recovery, and
// moves every vital sign it affects coherently (desaturation raises heart
// and respiratory rate; one severity drawn per episode sets every level). An
// EpisodeMix sets how often each kind happens (episodes per hour) and how
// long it lasts; MixForAbnormalFraction builds a mix for a target fraction
// of abnormal readings, for load tests.
//
// A Patient is a Profile, a mix and a seed. Patient.Value(kind, t) is a pure
// function of (seed, profile, mix, kind, t): noise is a hash of (seed, kind,
// time), and episodes come from a Poisson process generated per day of Unix
// time from a hash of (seed, kind, day), thinned so that two episodes of the
// same kind never overlap. So values do not depend on the order in which
// they are asked for, nor on which device asks, and two devices measuring
// the heart rate at the same millisecond read the same value.
//
// Values are computed in integer fixed point (thousandths, as
// vital.Quantity), so they are the same on every platform. Only the episode
// schedule uses floating point (exponential gaps), rounded to whole
// milliseconds and seconds.
//
// # Devices and kits
//
// A Device has its own Ed25519 signing key (role device), the patient's
// ID, the vital signs it measures, a sampling interval and a sequence
// number. Device.Due says whether a measurement is due; Device.Measure
// takes one reading of every vital sign the device measures, all with the
// same timestamp, and returns them signed (reading.Sign) with strictly
// increasing sequence numbers starting at 1. A Kit is a Patient and the
// devices measuring it. LoadKit builds a kit of standard devices with the
// keys it is given (a real kit's, from its devices' key files) or fresh
// random ones; the seed picks the patient's physiology only. DefaultKit
// builds the standard six with keys derived from the seed (DeriveKey):
// derived keys make a simulation reproducible byte for byte, but anyone who
// knows the seed knows the keys, so they are for tests and examples only,
// never registered on a real ledger.
//
// # Steps
//
// Steps are reported, as LOINC 41950-7 says, as the number of steps in the
// 24 hours before the measurement. Profile.StepsSinceMidnight switches to
// a count that resets at local midnight instead, as many trackers show it;
// but contract.DefaultRules flags fewer than 500 steps as abnormal, which
// such a count is every morning.
package device

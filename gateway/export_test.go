package gateway

import "github.com/vitalchain/vitalchain/envelope"

// EpochKey returns the patient's current epoch and its key, for tests that
// open what the gateway sealed.
func (p *Patient) EpochKey() (uint64, envelope.SessionKey) { return p.current() }

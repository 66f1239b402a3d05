package ledger

import (
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

const (
	envSelf           = envelope.KindSelf
	envGrant          = envelope.KindGrant
	envProviderRecord = envelope.KindProviderRecord
)

// checkEnvelope parses a key envelope carried by a transaction and checks,
// statelessly, that it is bound to the context the transaction files it
// under: an envelope made for another patient, epoch, recipient, record or
// kind is refused with CodeEnvelope. The suite is checked against the
// recipient's registered key by envelopeSuite.
func checkEnvelope(b []byte, kind envelope.Kind, patient identity.ID, epoch uint64, sender, recipient identity.ID, subject [32]byte) error {
	e, err := envelope.ParseEnvelope(b)
	if err != nil {
		return wrap(CodeMalformed, "key envelope", err)
	}
	want := envelope.Context{Kind: kind, Patient: patient, Epoch: epoch, Subject: subject, Sender: sender, Recipient: recipient, Suite: e.Suite}
	if err := e.Check(want); err != nil {
		return wrap(CodeEnvelope, "key envelope", err)
	}
	return nil
}

// envelopeSuite checks that a (checked) envelope is wrapped with the suite of
// its recipient's registered encryption key.
func envelopeSuite(b []byte, recipient *Member) error {
	e, err := envelope.ParseEnvelope(b)
	if err != nil {
		return wrap(CodeMalformed, "key envelope", err)
	}
	if e.Suite != recipient.Suite {
		return errorf(CodeEnvelope, "key envelope: %v: %s, but the recipient's key is %s", envelope.ErrWrongSuite, e.Suite, recipient.Suite)
	}
	return nil
}

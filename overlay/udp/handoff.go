package udp

import (
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// maxHandoffSize bounds a handoff's CBOR (a datagram's payload of type
// typeHandoff).
const maxHandoffSize = 1024

// handoff is what an old head sends the head the overlay elected in its
// place: its attestation of the handover, so that the ledger takes it at
// once rather than after HeadAbsentMs.
type handoff struct {
	Statement   ledger.HandoverStatement `cbor:"1,keyasint"`
	Attestation ledger.Attestation       `cbor:"2,keyasint"`
}

// errBadHandoff is a handoff that does not decode or is not for this node.
var errBadHandoff = errors.New("bad handoff datagram")

// marshalHandoff returns h's CBOR, a datagram's payload.
func marshalHandoff(h *handoff) ([]byte, error) {
	b, err := codec.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	return b, nil
}

// parseHandoff decodes a handoff (a datagram's payload) from untrusted
// bytes and checks that it hands over to me and is attested by the old
// head it names. The attestation's signature is the ledger's to check; the
// datagram's, that the old head sent it.
func parseHandoff(b []byte, me identity.ID) (handoff, error) {
	var h handoff
	if err := codec.UnmarshalLimit(b, maxHandoffSize, &h); err != nil {
		return h, fmt.Errorf("%w: %w", errBadHandoff, err)
	}
	if h.Statement.NewHead != me || h.Attestation.Authority != h.Statement.OldHead {
		return h, fmt.Errorf("%w: not a handover to this node by the old head", errBadHandoff)
	}
	return h, nil
}

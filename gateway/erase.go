package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// Eraser is the cloud's erasure, as *cloudapi.Client offers it.
type Eraser interface {
	Erase(ctx context.Context, key *identity.SigningKey) (*cloudapi.EraseResult, error)
}

// Erase erases the patient's data, in this order:
//
//   - the ledger records the erasure: it ends every grant of the patient
//     and refuses it new keys and new grants from then on, so that no
//     provider receives a key to the patient's data again;
//   - this Patient destroys its epoch key (a gateway seals nothing more:
//     ErrErased);
//   - the cloud deletes the ciphertexts of the patient's records, keeping
//     their leaves so that every proof still verifies (a request signed
//     with the patient's key; see docs/privacy.md).
//
// It returns the cloud's answer. An erasure the ledger already holds is not
// an error: Erase then destroys the key and asks the cloud again.
func (p *Patient) Erase(ctx context.Context, cloud Eraser) (*cloudapi.EraseResult, error) {
	if err := p.submit(ctx, &ledger.Erase{}); err != nil && !errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
		return nil, fmt.Errorf("erasure on the ledger: %w", err)
	}
	p.keyMu.Lock()
	clear(p.key[:])
	p.keyMu.Unlock()
	p.log.Info("erased: the ledger records it, the epoch key is destroyed")
	res, err := cloud.Erase(ctx, p.id.Signing)
	if err != nil {
		return nil, fmt.Errorf("erasure in the cloud: %w", err)
	}
	return res, nil
}

// Erased reports whether this Patient destroyed its epoch key.
func (p *Patient) Erased() bool {
	p.keyMu.RLock()
	defer p.keyMu.RUnlock()
	return p.key.IsZero()
}

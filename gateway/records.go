package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// ProviderRecord is a record a provider sent the patient (transaction 3),
// verified and decrypted.
type ProviderRecord struct {
	ID        [32]byte
	Header    record.Header
	Kind      vital.Kind // the vital sign it is about, or 0 (from the decrypted payload)
	Plaintext []byte     // the payload's body: what the provider sent
	Height    int64      // the block that committed its envelope
}

// ProviderRecords fetches, verifies and decrypts the records providers
// sent the patient: the ledger lists them with their key envelopes, the
// cloud serves them to the patient.
func (p *Patient) ProviderRecords(ctx context.Context, cc *cloudapi.Client) ([]ProviderRecord, error) {
	var ls []ledger.ProviderRecordListing
	err := p.chain.Query(ctx, ledger.Record3Path(p.me), &ls)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ProviderRecord
	for _, l := range ls {
		res, err := cc.Read(ctx, p.id.Signing, l.Record)
		if err != nil {
			return out, fmt.Errorf("record %x: %w", l.Record[:8], err)
		}
		r, err := record.ParseRecord(res.Record)
		if err != nil {
			return out, fmt.Errorf("record %x: %w", l.Record[:8], err)
		}
		if r.ID() != l.Record {
			return out, fmt.Errorf("record %x: the cloud served another record", l.Record[:8])
		}
		env, err := envelope.ParseEnvelope(l.Entry.Envelope)
		if err != nil {
			return out, err
		}
		author, err := p.provider(ctx, l.Entry.Provider)
		if err != nil {
			return out, err
		}
		h, pt, err := record.OpenProviderRecord(r, env, p.id, author.Verifying)
		if err != nil {
			return out, fmt.Errorf("record %x: %w", l.Record[:8], err)
		}
		out = append(out, ProviderRecord{ID: l.Record, Header: h, Kind: pt.Kind, Plaintext: pt.Body, Height: l.Entry.Height})
	}
	return out, nil
}

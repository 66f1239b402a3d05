package client

import (
	"context"
	"strconv"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// Member returns a registered actor.
func (c *Client) Member(ctx context.Context, id identity.ID) (*ledger.Member, error) {
	var m ledger.Member
	return &m, c.Query(ctx, "member/"+id.Hex(), &m)
}

// Authorities returns the current validator set.
func (c *Client) Authorities(ctx context.Context) ([]ledger.Authority, error) {
	var a []ledger.Authority
	return a, c.Query(ctx, "authorities", &a)
}

// Cluster returns a cluster with its Cluster Head's lists of members.
func (c *Client) Cluster(ctx context.Context, n uint32) (*ledger.ClusterInfo, error) {
	var ci ledger.ClusterInfo
	return &ci, c.Query(ctx, "cluster/"+strconv.FormatUint(uint64(n), 10), &ci)
}

// Contract returns a deployed contract.
func (c *Client) Contract(ctx context.Context, id [32]byte) (*ledger.ContractRecord, error) {
	var r ledger.ContractRecord
	return &r, c.Query(ctx, "contract/"+hexID(id), &r)
}

// Contracts lists a patient's contracts.
func (c *Client) Contracts(ctx context.Context, patient identity.ID) ([][32]byte, error) {
	var ids [][32]byte
	return ids, c.Query(ctx, "contracts/"+patient.Hex(), &ids)
}

// Epoch returns a patient's current key epoch (0 before its first session key).
func (c *Client) Epoch(ctx context.Context, patient identity.ID) (uint64, error) {
	var ps ledger.PatientState
	err := c.Query(ctx, "epoch/"+patient.Hex(), &ps)
	return ps.Epoch, err
}

// Envelope returns the envelope of a patient's epoch key for recipient.
func (c *Client) Envelope(ctx context.Context, patient identity.ID, epoch uint64, recipient identity.ID) ([]byte, error) {
	var b []byte
	return b, c.Query(ctx, "envelope/"+patient.Hex()+"/"+strconv.FormatUint(epoch, 10)+"/"+recipient.Hex(), &b)
}

// Grant returns a patient's grant to a provider.
func (c *Client) Grant(ctx context.Context, patient, provider identity.ID) (*ledger.GrantRecord, error) {
	var g ledger.GrantRecord
	return &g, c.Query(ctx, "grant/"+patient.Hex()+"/"+provider.Hex(), &g)
}

// Grants lists a patient's grants, active or not.
func (c *Client) Grants(ctx context.Context, patient identity.ID) ([]ledger.GrantEntry, error) {
	var gs []ledger.GrantEntry
	return gs, c.Query(ctx, "grants/"+patient.Hex(), &gs)
}

// Anchor returns a cloud's latest anchored checkpoint of a log.
func (c *Client) Anchor(ctx context.Context, cloud identity.ID, log uint8) (*ledger.AnchorRecord, error) {
	var a ledger.AnchorRecord
	return &a, c.Query(ctx, "anchor/"+cloud.Hex()+"/"+strconv.Itoa(int(log)), &a)
}

// AnchorAt returns a cloud's anchored checkpoint of a log at a size; it is
// ErrNotFound if the cloud never anchored that size.
func (c *Client) AnchorAt(ctx context.Context, cloud identity.ID, log uint8, size uint64) (*ledger.AnchorRecord, error) {
	var a ledger.AnchorRecord
	return &a, c.Query(ctx, "anchor/"+cloud.Hex()+"/"+strconv.Itoa(int(log))+"/"+strconv.FormatUint(size, 10), &a)
}

func hexID(b [32]byte) string {
	var id identity.ID = b
	return id.Hex()
}

package client

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// Member returns a registered actor. The answer certifies itself: an ID
// is the hash of its key, and a node that answers another key for id is
// refused (ErrForged).
func (c *Client) Member(ctx context.Context, id identity.ID) (*ledger.Member, error) {
	var m ledger.Member
	if err := c.Query(ctx, ledger.MemberPath(id), &m); err != nil {
		return nil, err
	}
	if k, err := m.VerifyingKey(); err != nil || k.ID() != id {
		return nil, fmt.Errorf("%w: the node answered member %s with the key of %s (%v)", ErrForged, id, identity.ID(sha256.Sum256(m.Verifying)), err)
	}
	return &m, nil
}

// Authorities returns the current validator set.
func (c *Client) Authorities(ctx context.Context) ([]ledger.Authority, error) {
	var a []ledger.Authority
	return a, c.Query(ctx, ledger.QueryAuthorities, &a)
}

// Cluster returns a cluster with its Cluster Head's lists of members.
func (c *Client) Cluster(ctx context.Context, n uint32) (*ledger.ClusterInfo, error) {
	var ci ledger.ClusterInfo
	return &ci, c.Query(ctx, ledger.ClusterPath(n), &ci)
}

// Contract returns a deployed contract.
func (c *Client) Contract(ctx context.Context, id [32]byte) (*ledger.ContractRecord, error) {
	var r ledger.ContractRecord
	return &r, c.Query(ctx, ledger.ContractPath(id), &r)
}

// Contracts lists a patient's contracts.
func (c *Client) Contracts(ctx context.Context, patient identity.ID) ([][32]byte, error) {
	var ids [][32]byte
	return ids, c.Query(ctx, ledger.ContractsPath(patient), &ids)
}

// Epoch returns a patient's current key epoch (0 before its first session key).
func (c *Client) Epoch(ctx context.Context, patient identity.ID) (uint64, error) {
	var ps ledger.PatientState
	err := c.Query(ctx, ledger.EpochPath(patient), &ps)
	return ps.Epoch, err
}

// Envelope returns the envelope of a patient's epoch key for recipient.
func (c *Client) Envelope(ctx context.Context, patient identity.ID, epoch uint64, recipient identity.ID) ([]byte, error) {
	var b []byte
	return b, c.Query(ctx, ledger.EnvelopePath(patient, epoch, recipient), &b)
}

// ScopeKeys returns the sealed keys of a provider's scope in a patient's
// epoch (envelope.OpenScope opens them with the grant's key).
func (c *Client) ScopeKeys(ctx context.Context, patient identity.ID, epoch uint64, provider identity.ID) ([]byte, error) {
	var b []byte
	return b, c.Query(ctx, ledger.ScopePath(patient, epoch, provider), &b)
}

// Grant returns a patient's grant to a provider.
func (c *Client) Grant(ctx context.Context, patient, provider identity.ID) (*ledger.GrantRecord, error) {
	var g ledger.GrantRecord
	return &g, c.Query(ctx, ledger.GrantPath(patient, provider), &g)
}

// Grants lists a patient's grants, active or not.
func (c *Client) Grants(ctx context.Context, patient identity.ID) ([]ledger.GrantEntry, error) {
	var gs []ledger.GrantEntry
	return gs, c.Query(ctx, ledger.GrantsPath(patient), &gs)
}

// Anchor returns a cloud's latest anchored checkpoint of a log.
func (c *Client) Anchor(ctx context.Context, cloud identity.ID, log uint8) (*ledger.AnchorRecord, error) {
	var a ledger.AnchorRecord
	return &a, c.Query(ctx, ledger.AnchorPath(cloud, log), &a)
}

// AnchorAt returns a cloud's anchored checkpoint of a log at a size; it is
// ErrNotFound if the cloud never anchored that size.
func (c *Client) AnchorAt(ctx context.Context, cloud identity.ID, log uint8, size uint64) (*ledger.AnchorRecord, error) {
	var a ledger.AnchorRecord
	return &a, c.Query(ctx, ledger.AnchorAtPath(cloud, log, size), &a)
}

// Head returns a cluster alone: its Cluster Head and term (proved, unlike
// Cluster's lists).
func (c *Client) Head(ctx context.Context, n uint32) (*ledger.Cluster, error) {
	var cl ledger.Cluster
	return &cl, c.Query(ctx, ledger.HeadPath(n), &cl)
}

// Command returns the latest command sent to a device.
func (c *Client) Command(ctx context.Context, device identity.ID) (*ledger.DeviceCommandRecord, error) {
	var r ledger.DeviceCommandRecord
	return &r, c.Query(ctx, ledger.CommandPath(device), &r)
}

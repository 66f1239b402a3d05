package main

// The patient's audit trail (HIPAA's accounting of disclosures) and
// erasure (GDPR Art. 17), from the command line.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/fhirapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/relation"
)

// patientCloud returns the ID of the cloud behind cc, once the ledger
// lists it among the clouds of the patient's home cluster: the cloud's
// word alone would let another server answer for it.
func patientCloud(ctx context.Context, cl *client.Client, cc *cloudapi.Client, patient identity.ID) (identity.ID, error) {
	id, err := cc.ID(ctx)
	if err != nil {
		return id, err
	}
	me, err := cl.Member(ctx, patient)
	if err != nil {
		return id, fmt.Errorf("the patient on the ledger: %w", err)
	}
	ci, err := cl.Cluster(ctx, me.Home)
	if err != nil {
		return id, fmt.Errorf("the patient's home cluster %d: %w", me.Home, err)
	}
	if !slices.Contains(ci.Clouds, id) {
		return id, fmt.Errorf("the server says it is cloud %s, which the ledger does not list in the patient's home cluster %d", id, me.Home)
	}
	return id, nil
}

// printAuditTrail lists the patient's access log from index from on,
// verified: each entry's inclusion proof, the consistency of the listing
// with the access log's checkpoint anchored on the ledger, each request's
// signature with its requester's key from the ledger. It fails if any of
// it does not verify.
func printAuditTrail(ctx context.Context, stdout io.Writer, cl *client.Client, cc *cloudapi.Client, id *identity.Identity, from uint64, asFHIR bool) error {
	key := id.Signing
	patient := key.Public().ID()
	cloudID, err := patientCloud(ctx, cl, cc, patient)
	if err != nil {
		return err
	}
	var anchor ledger.AnchorRecord
	switch a, err := cl.Anchor(ctx, cloudID, ledger.LogAccess); {
	case err == nil:
		anchor = *a
	case !errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("the access log's anchor: %w", err)
	}
	roles := map[identity.ID]identity.Role{}
	keyOf := func(id identity.ID) (identity.VerifyingKey, error) {
		m, err := cl.Member(ctx, id)
		if err != nil {
			return identity.VerifyingKey{}, err
		}
		roles[id] = m.Role
		return m.VerifyingKey()
	}
	trail, err := cc.AuditTrail(ctx, key, from, anchor.Checkpoint, keyOf)
	if err != nil {
		return fmt.Errorf("the access log does not verify: %w", err)
	}
	if asFHIR {
		b := fhirapi.TrailBundle(trail, cloudID, anchor.Height, func(rid identity.ID) fhirapi.Party {
			// A provider under its relation key for this patient is named
			// by its registered ID, from the binding sealed to the patient.
			if roles[rid] == identity.RoleProvider {
				if b, err := relation.Resolve(ctx, cl, id, rid); err == nil {
					return fhirapi.Party{ID: b.Provider, Role: identity.RoleProvider,
						Display: "provider " + b.Provider.String() + " (relation key " + rid.String() + ")"}
				}
			}
			return fhirapi.Party{ID: rid, Role: roles[rid]}
		})
		_, err := fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	anchored := 0
	for _, v := range trail {
		if v.Anchored {
			anchored++
		}
	}
	fmt.Fprintf(stdout, "access log of patient %s at cloud %s: %d entries verified; %d under the anchor of size %d (height %d), %d after it, in the log but not anchored yet\n",
		patient.Hex(), cloudID.Hex(), len(trail), anchored, anchor.Checkpoint.Size, anchor.Height, len(trail)-anchored)
	for _, v := range trail {
		line := auditLine(v, roles[v.Requester])
		// A provider reads under its relation key for this patient: the
		// binding the ledger keeps sealed to the patient names it.
		if roles[v.Requester] == identity.RoleProvider {
			if b, err := relation.Resolve(ctx, cl, id, v.Requester); err == nil {
				line += "  provider " + b.Provider.Hex() + " under its relation key"
			}
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

// auditLine is one entry of the trail, for a person.
func auditLine(v cloudapi.VerifiedEntry, role identity.Role) string {
	what := v.Op
	if what == "" {
		what = cloudapi.AccessRead
	}
	switch v.Op {
	case cloudapi.AccessErase:
		what = fmt.Sprintf("erase (%d records)", v.Erased)
	case cloudapi.AccessList:
	default:
		what += fmt.Sprintf(" record %x", v.Record[:8])
	}
	outcome := "allowed"
	if !v.Allowed {
		outcome = "refused: " + v.Reason
	}
	who := v.Requester.Hex()
	if role != 0 {
		who = role.String() + " " + who
	}
	proof := "anchored"
	if !v.Anchored {
		proof = "not anchored yet"
	}
	if !v.Signed {
		proof += ", no signed request (attributed by the cloud)"
	}
	return fmt.Sprintf("%d  %s  %s  %s  %s  [%s]", v.Index, time.UnixMilli(v.Time).UTC().Format(time.RFC3339), who, what, outcome, proof)
}

// erase asks the patient's cloud to erase the ciphertexts of the
// patient's records.
func erase(ctx context.Context, stdout io.Writer, cl *client.Client, cc *cloudapi.Client, key *identity.SigningKey) error {
	if _, err := patientCloud(ctx, cl, cc, key.Public().ID()); err != nil {
		return err
	}
	// The ledger first: it ends the patient's grants and refuses new keys
	// and grants from then on.
	s, err := cl.Signer(ctx, key)
	if err != nil {
		return err
	}
	if _, err := s.Submit(ctx, &ledger.Erase{}); err != nil && !errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
		return fmt.Errorf("erasure on the ledger: %w", err)
	}
	fmt.Fprintln(stdout, "the ledger records the erasure: the patient's grants are ended, and no new key or grant will be accepted")
	res, err := cc.Erase(ctx, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "erased the ciphertexts of %d records (the erasure is entry %d of the access log); their leaves stay in the records log, so its anchors still verify\n", res.Erased, res.Entry)
	return nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// `patient access-log` prints the patient's trail verified against the
// ledger's anchor, and `patient erase` erases its records: a read
// afterwards is refused as erased, and the trail shows the read, the
// erasure and the refused read.
func TestPatientAuditTrailAndErasure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ledger and a cloud")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 1, Dir: filepath.Join(dir, "chain"), BlockInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Stop()
	c := client.New(ln.Nodes[0].Local(), nil)
	defer c.Close()
	head, err := c.Signer(ctx, ln.Nodes[0].Authority().Signing)
	if err != nil {
		t.Fatal(err)
	}
	cloudID, _ := identity.Generate(identity.RoleCloud, identity.DefaultSuite)
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	for _, id := range []*identity.Identity{cloudID, patient} {
		r, err := ledger.NewRegister(id, 1, identity.ID{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := head.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	key, _ := envelope.NewSessionKey()
	self, _ := envelope.SelfEnvelope(patient, 1, key)
	sb, _ := self.Marshal()
	ps, _ := c.Signer(ctx, patient.Signing)
	if _, err := ps.Submit(ctx, &ledger.SessionKey{Epoch: 1, Envelope: sb}); err != nil {
		t.Fatal(err)
	}
	cl, err := testbed.StartCloud(ctx, testbed.CloudOptions{Key: cloudID, Dir: filepath.Join(dir, "cloud"), Clients: []*client.Client{c},
		BlockInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keyFile := filepath.Join(dir, "patient.key")
	if err := identity.WriteFile(keyFile, patient); err != nil {
		t.Fatal(err)
	}

	rec, err := record.Seal(record.Header{Patient: patient.ID(), Epoch: 1, Contract: [32]byte{1}, Kind: vital.Glucose, Severity: 1, Time: time.Now().UnixMilli(), Seq: 1},
		key, []byte("glucose 3.1 mmol/L"), patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := rec.Marshal()
	cc := cl.Client()
	if acks, err := cc.Upload(ctx, [][]byte{raw}); err != nil || acks[0].Code != "" {
		t.Fatalf("upload: %+v, %v", acks, err)
	}
	if _, err := cc.Read(ctx, patient.Signing, rec.ID()); err != nil {
		t.Fatal(err)
	}
	// The read anchored, so that the trail shows it under the anchor.
	for {
		a, err := c.Anchor(ctx, cloudID.ID(), ledger.LogAccess)
		if err == nil && a.Checkpoint.Size >= 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the access log is never anchored")
		}
		time.Sleep(50 * time.Millisecond)
	}
	vc := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append(args, "--key", keyFile, "--cloud", cl.URL, "--ledger", ln.Testnet.RPC[0])
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("vitalchain %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		return out.String()
	}
	out := vc("patient", "access-log")
	for _, want := range []string{"2 entries verified; 1 under the anchor", "patient " + patient.ID().Hex() + "  read record", "allowed  [anchored]",
		"  list  allowed  [not anchored yet]"} {
		if !strings.Contains(out, want) {
			t.Errorf("access-log prints no %q:\n%s", want, out)
		}
	}
	// The same trail, exported as FHIR AuditEvents: one an entry (the two
	// above and the listing this export makes), the read naming the
	// record and anchored.
	var bundle struct {
		ResourceType, Type string
		Entry              []struct{ Resource json.RawMessage }
	}
	if err := json.Unmarshal([]byte(vc("patient", "access-log", "--fhir")), &bundle); err != nil {
		t.Fatalf("access-log --fhir: %v", err)
	}
	if bundle.ResourceType != "Bundle" || len(bundle.Entry) != 3 {
		t.Fatalf("access-log --fhir: a %s of %d entries, want a Bundle of 3", bundle.ResourceType, len(bundle.Entry))
	}
	if ev := string(bundle.Entry[0].Resource); !strings.Contains(ev, `"resourceType":"AuditEvent"`) || !strings.Contains(ev, fmt.Sprintf("%x", rec.ID())) ||
		!strings.Contains(ev, `"type":"anchored","valueString":"true"`) {
		t.Errorf("the read's AuditEvent: %s", ev)
	}
	if out := vc("patient", "erase"); !strings.Contains(out, "erased the ciphertexts of 1 records") {
		t.Errorf("erase prints:\n%s", out)
	}
	_, err = cc.Read(ctx, patient.Signing, rec.ID())
	var re *cloudapi.RequestError
	if !errors.As(err, &re) || re.Status != http.StatusGone || re.Code != cloudapi.CodeErased {
		t.Fatalf("a read after the erasure: %v; want 410 erased", err)
	}
	out = vc("patient", "access-log")
	t.Logf("vitalchain patient access-log:\n%s", out)
	for _, want := range []string{"erase (1 records)  allowed", "refused: erased"} {
		if !strings.Contains(out, want) {
			t.Errorf("access-log after the erasure prints no %q:\n%s", want, out)
		}
	}
}

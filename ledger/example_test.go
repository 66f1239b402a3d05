package ledger_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/statetree"
)

// A Cluster Head admits a patient to its cluster. The same transaction a
// second time is a replay.
func ExampleMachine_Execute() {
	head, err := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	if err != nil {
		log.Fatal(err)
	}
	patient, err := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if err != nil {
		log.Fatal(err)
	}
	genesis := &ledger.Genesis{
		Params: ledger.DefaultParams(),
		Authorities: []ledger.GenesisAuthority{{
			Name: "ch1", Key: head.Public().Verifying.String(), Consensus: make([]byte, 32), Cluster: 1,
		}},
	}
	m, st, tree := ledger.NewMachine(), ledger.MemStore{}, statetree.NewMemory()
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	res, err := m.InitChain(st, tree, "vitalchain-example", genesis, t0)
	if err != nil {
		log.Fatal(err)
	}
	st.Apply(res.Writes)

	reg := &ledger.Register{Member: ledger.KeysOf(patient.Public(), nil), Cluster: 1}
	if err := reg.Prove(patient.Signing); err != nil { // the patient proves it holds its key
		log.Fatal(err)
	}
	tx, err := ledger.NewTx("vitalchain-example", head.Signing, 1, reg)
	if err != nil {
		log.Fatal(err)
	}
	res, err = m.Execute(st, tree, ledger.Block{Height: 1, Time: t0.Add(time.Second), Txs: [][]byte{tx, tx}})
	if err != nil {
		log.Fatal(err)
	}
	st.Apply(res.Writes)
	for _, r := range res.TxResults {
		if r.Code != ledger.CodeOK {
			fmt.Println(r.Code)
			continue
		}
		fmt.Println(r.Code, r.Events[0].Type, r.Events[0].Attrs[1])
	}

	b, err := ledger.Query(st, "cluster/1")
	if err != nil {
		log.Fatal(err)
	}
	var info ledger.ClusterInfo
	if err := codec.Unmarshal(b, &info); err != nil {
		log.Fatal(err)
	}
	fmt.Println("requestees of cluster 1:", len(info.Requestees), info.Requestees[0] == patient.ID())
	// Output:
	// ok register {role patient}
	// replay
	// requestees of cluster 1: 1 true
}

// NewTx signs a transaction; Decode checks it without the state, as CheckTx
// does, and says why it refuses one.
func ExampleDecode() {
	provider, err := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	if err != nil {
		log.Fatal(err)
	}
	tx, err := ledger.NewTx("vitalchain-example", provider.Signing, 1, &ledger.DeviceCommand{
		Device: identity.ID{1}, Command: "sampling_interval_ms", Value: 60_000,
	})
	if err != nil {
		log.Fatal(err)
	}
	d, err := ledger.Decode(tx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Tx.Type, d.Tx.Seq, d.Tx.SignerID() == provider.ID())

	tx[len(tx)-1] ^= 1 // flip a bit of the signature
	_, err = ledger.Decode(tx)
	fmt.Println(errors.Is(err, ledger.Rejected(ledger.CodeBadSignature)), ledger.CodeOf(err))
	// Output:
	// device_command 1 true
	// true bad signature
}

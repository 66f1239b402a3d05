package ledger_test

import (
	"errors"
	"fmt"
	"log"
	"sort"
	"strings"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// store is a map as a ledger.IterStore, the committed state of the example.
type store map[string][]byte

func (s store) Get(k []byte) ([]byte, error) { return s[string(k)], nil }

func (s store) Iterate(prefix []byte, fn func(k, v []byte) bool) error {
	var keys []string
	for k := range s {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), s[k]) {
			break
		}
	}
	return nil
}

// commit applies a block's writes, as package chain does after FinalizeBlock.
func (s store) commit(ws []ledger.Write) {
	for _, w := range ws {
		if w.Value == nil {
			delete(s, string(w.Key))
		} else {
			s[string(w.Key)] = w.Value
		}
	}
}

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
	m, st := ledger.NewMachine(), store{}
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	res, err := m.InitChain(st, genesis, t0)
	if err != nil {
		log.Fatal(err)
	}
	st.commit(res.Writes)

	reg := &ledger.Register{Member: ledger.KeysOf(patient.Public(), nil), Cluster: 1}
	if err := reg.Prove(patient.Signing); err != nil { // the patient proves it holds its key
		log.Fatal(err)
	}
	tx, err := ledger.NewTx(head.Signing, 1, reg)
	if err != nil {
		log.Fatal(err)
	}
	res, err = m.Execute(st, res.AppHash, ledger.Block{Height: 1, Time: t0.Add(time.Second), Txs: [][]byte{tx, tx}})
	if err != nil {
		log.Fatal(err)
	}
	st.commit(res.Writes)
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
	tx, err := ledger.NewTx(provider.Signing, 1, &ledger.DeviceCommand{
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

package ledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/statetree"
)

// BenchmarkVerifyBaseline is the primitive Decode wraps: one Ed25519
// verification of a transaction's signed bytes.
func BenchmarkVerifyBaseline(b *testing.B) {
	s := samples(b)
	var tx Tx
	if err := codec.Unmarshal(s.txs[TypeAlert], &tx); err != nil {
		b.Fatal(err)
	}
	msg, err := tx.signedBytes()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := identity.VerifyContext(tx.Signer, txContext, msg, tx.Sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is the stateless check of CheckTx: to compare with
// BenchmarkVerifyBaseline (alert, vote) or with the cost of compiling a
// contract (deploy_contract).
func BenchmarkDecode(b *testing.B) {
	s := samples(b)
	for _, typ := range []Type{TypeAlert, TypeVote, TypeGrant, TypeDeployContract} {
		tx := s.txs[typ]
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(tx)))
			for b.Loop() {
				if _, err := Decode(tx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExecute executes a block of 64 alerts against the same committed
// state, with the CheckTx cache cold (Decode included) and warm.
func BenchmarkExecute(b *testing.B) {
	c := newTestChain(b, 1)
	pat := c.register(identity.RolePatient, nil)
	prov := c.register(identity.RoleProvider, nil)
	cloud := c.register(identity.RoleCloud, nil)
	tm := terms(pat.ID(), []contract.Rule{glucoseRule}, prov.ID())
	c.ok(pat.Signing, deployBody(b, pat, tm, prov))
	cid := contractID(b, tm)
	var txs [][]byte
	for i := range 64 {
		txs = append(txs, c.tx(cloud.Signing, &Alert{Patient: pat.ID(), Contract: cid, RecordID: [32]byte{byte(i), 1}, Time: 1}))
	}
	blk := Block{Height: c.height + 1, Time: c.now.Add(time.Second), Txs: txs}
	for _, warm := range []bool{false, true} {
		b.Run(fmt.Sprintf("warm=%v", warm), func(b *testing.B) {
			m := NewMachine()
			if warm {
				for _, tx := range txs {
					if _, err := m.CheckTx(nil, tx); err != nil {
						b.Fatal(err)
					}
				}
			}
			for b.Loop() {
				res, err := m.Execute(c.st, statetree.Open(statetree.NewMemNodes(), nil), blk)
				if err != nil || res.TxResults[63].Code != CodeOK {
					b.Fatal(err, res.TxResults[63])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs)), "ns/tx")
		})
	}
}

// BenchmarkAppHash commits a block of 256 writes of 100 bytes to a tree
// of 10,000 keys.
func BenchmarkAppHash(b *testing.B) {
	tree := statetree.NewMemory()
	for i := range 10000 {
		if err := tree.Set(fmt.Appendf(nil, "base%d", i), make([]byte, 100)); err != nil {
			b.Fatal(err)
		}
	}
	ws := make([]Write, 256)
	for i := range ws {
		ws[i] = Write{Key: fmt.Appendf(nil, "k%031d", i), Value: make([]byte, 100)}
	}
	n := 0
	for b.Loop() {
		n++
		ws[0].Value[0] = byte(n)
		if _, err := commitTo(tree, ws); err != nil {
			b.Fatal(err)
		}
	}
}

package pgstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pgstore"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/pgtest"
	"github.com/vitalchain/vitalchain/merklelog"
)

// secretOf is the ciphertext of test record i: bytes found nowhere else.
func secretOf(i uint64) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "ciphertext %d", i))
	return h[:]
}

// tablesHolding lists the tables of url's schema with a row whose text
// holds b (bytea columns show as hex).
func tablesHolding(t *testing.T, url string, b []byte) []string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("the schema's tables: %v, %v", tables, err)
	}
	want := hex.EncodeToString(b)
	var out []string
	for _, tb := range tables {
		rows, err := c.Query(ctx, fmt.Sprintf("SELECT t::text FROM %s t", pgx.Identifier{tb}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range texts {
			if strings.Contains(s, want) {
				out = append(out, tb)
				break
			}
		}
	}
	return out
}

// After Erase no row of any of the store's tables holds an erased
// record's bytes, the other patient's records are whole, and the records
// log is unchanged; on a database an older binary wrote (schema version 1),
// migrated at Open, too.
func TestEraseLeavesNoRow(t *testing.T) {
	t.Parallel()
	for _, fromV1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("fromV1=%v", fromV1), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := pgtest.URL(t)
			patient, other := identity.ID{1}, identity.ID{2}
			owners := []identity.ID{patient, other, patient, other, patient}
			recs := make([]cloud.StoredRecord, len(owners))
			nodes := make([]merklelog.Node, len(owners))
			for i, p := range owners {
				recs[i] = cloud.StoredRecord{ID: [32]byte{0xee, byte(i)}, Index: uint64(i), Patient: p, Received: int64(i), Bytes: secretOf(uint64(i))}
				nodes[i] = merklelog.Node{ID: compact.NewNodeID(0, uint64(i)), Hash: merklelog.HashLeaf(recs[i].ID[:])}
			}
			if fromV1 {
				if err := pgstore.MigrateTo(ctx, url, 1); err != nil {
					t.Fatal(err)
				}
				// Rows as version 1 wrote them.
				for _, r := range recs[:3] {
					exec(t, url, "INSERT INTO cloud_records (id, idx, patient, kind, received, body) VALUES ($1, $2, $3, $4, $5, $6)",
						r.ID[:], int64(r.Index), r.Patient[:], int16(3), r.Received, r.Bytes)
					exec(t, url, "INSERT INTO cloud_nodes (log, level, idx, hash) VALUES (0, 0, $1, $2)", int64(r.Index), nodes[r.Index].Hash[:])
				}
				exec(t, url, "UPDATE cloud_logs SET size = 3 WHERE log = 0")
				exec(t, url, "INSERT INTO cloud_access (idx, at, requester, patient, record, allowed, reason) VALUES (0, 1, $1, $2, $3, true, '')",
					other[:], patient[:], recs[0].ID[:])
				exec(t, url, "UPDATE cloud_logs SET size = 1 WHERE log = 1")
			}
			st := open(t, url)
			defer st.Close()
			from := 0
			if fromV1 {
				from = 3
				es, err := st.Access(patient, 0, 10)
				if err != nil || len(es) != 1 || es[0].Op != "" || es[0].Request != nil || es[0].Erased != 0 {
					t.Fatalf("an access entry of version 1 read by version 2: %+v, %v", es, err)
				}
			}
			for i := from; i < len(recs); i++ {
				if err := st.AppendRecords(uint64(i), uint64(i+1), recs[i:i+1], nodes[i:i+1]); err != nil {
					t.Fatal(err)
				}
			}
			e := cloudapi.AccessEntry{Index: 0, Requester: other, Patient: other, Op: cloudapi.AccessErase, Request: []byte("req"), Erased: 2}
			if !fromV1 {
				if err := st.AppendAccess(0, 1, []cloudapi.AccessEntry{e}, []merklelog.Node{{ID: compact.NewNodeID(0, 0)}}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range owners {
				if len(tablesHolding(t, url, secretOf(uint64(i)))) == 0 {
					t.Fatalf("record %d is in no table before the erasure: the test cannot see what it looks for", i)
				}
			}
			ids, err := st.Erase(patient)
			if err != nil || len(ids) != 3 {
				t.Fatalf("Erase: %x, %v; want 3 records", ids, err)
			}
			for i, p := range owners {
				tables := tablesHolding(t, url, secretOf(uint64(i)))
				if p == patient && len(tables) > 0 {
					t.Errorf("erased record %d is still in %v", i, tables)
				}
				if p == other && len(tables) == 0 {
					t.Errorf("the other patient's record %d is gone", i)
				}
				r, err := st.Record(recs[i].ID)
				if err != nil || r.Erased != (p == patient) || (p == patient && r.Bytes != nil) {
					t.Errorf("record %d after the erasure: %+v, %v", i, r, err)
				}
			}
			if hs, err := st.GetNodes(cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, 0), compact.NewNodeID(0, 4)}); err != nil ||
				hs[0] != nodes[0].Hash || hs[1] != nodes[4].Hash {
				t.Fatalf("the records log's leaves after the erasure: %x, %v", hs, err)
			}
			if !fromV1 {
				if es, err := st.Access(other, 0, 10); err != nil || len(es) != 1 || string(es[0].Request) != "req" || es[0].Erased != 2 || es[0].Op != cloudapi.AccessErase {
					t.Fatalf("an access entry of version 2: %+v, %v", es, err)
				}
			}
		})
	}
}

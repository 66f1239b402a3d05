package client

import (
	"bytes"
	"testing"
)

const newBlockSeed = `{"jsonrpc":"2.0","id":1,"result":{"query":"tm.event='NewBlock'","data":{"type":"tendermint/event/NewBlock","value":{"block":{"header":{"height":"7","time":"2026-11-27T06:00:00.123456789Z"},"data":{"txs":["AQID"]}},"result_finalize_block":{"tx_results":[{"code":0,"log":"","events":[{"type":"register","attributes":[{"key":"id","value":"ab","index":true}]}]}]}}}}}`

// The node's new-block events are decoded by parseNewBlock: whatever the
// bytes, it returns a block, nothing, or an error, and never panics.
func FuzzParseNewBlock(f *testing.F) {
	f.Add([]byte(newBlockSeed))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
	f.Add([]byte(`{"result":{"data":{"type":"tendermint/event/NewBlock","value":{"block":{"header":{"height":"1"},"data":{"txs":["AQID"]}}}}}}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		b, err := parseNewBlock(msg)
		if err != nil || b == nil {
			return
		}
		if b.Height <= 0 || len(b.Txs) != len(b.Results) {
			t.Fatalf("accepted a block with height %d, %d txs, %d results", b.Height, len(b.Txs), len(b.Results))
		}
	})
}

func TestParseNewBlock(t *testing.T) {
	b, err := parseNewBlock([]byte(newBlockSeed))
	if err != nil {
		t.Fatal(err)
	}
	if b.Height != 7 || b.Time.Nanosecond() != 123456789 || len(b.Txs) != 1 || !bytes.Equal(b.Txs[0], []byte{1, 2, 3}) {
		t.Fatalf("block %+v", b)
	}
	if r := b.Results[0]; r.Code != 0 || len(r.Events) != 1 || r.Events[0].Type != "register" || r.Events[0].Attrs[0].Value != "ab" {
		t.Fatalf("result %+v", r)
	}
	if b, err := parseNewBlock([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)); b != nil || err != nil {
		t.Fatalf("the subscription's acknowledgement: %v %v", b, err)
	}
	if _, err := parseNewBlock([]byte(`{"result":{"data":{"type":"tendermint/event/NewBlock","value":{"block":{"header":{"height":"2"},"data":{"txs":["AQID"]}}}}}}`)); err == nil {
		t.Fatal("a block with a transaction and no result was accepted")
	}
}

const provedSeed = `{"response":{"code":0,"log":"","info":"","index":"0","key":"QQ==","value":"gaMBWCCiUbNKdmU1LxeS/NTKzi10+T+PAVFnCShX/u19Ba/g3gJYIEcdGx+Kdp+Wt/MKD9WY1UzpXFwZIZFVdmKBNtVKxXXIAwo=","proofOps":{"ops":[{"type":"vitalchain/smt/v1","key":"QQ==","data":"pgEBAvUDWEyhAYGjAVggolGzSnZlNS8XkvzUys4tdPk/jwFRZwkoV/7tfQWv4N4CWCBHHRsfinaflrfzCg/VmNVM6VxcGSGRVXZigTbVSsV1yAMKBIJYIH1KKNkkumzmjMTV47m9GxrB+wsjzZksbfZRjwjOGvpsWCBJxylOwL21UFhp9GDJkd5o+4KdmVPkfAqWwcqphHE/7QZBAAcC"}]},"height":"2","codespace":""}}`

// A node's proved answers are decoded by parseProved: whatever the bytes,
// it returns an answer with at most one proof of our type, or an error,
// and never panics.
func FuzzParseProved(f *testing.F) {
	f.Add([]byte(provedSeed))
	f.Add([]byte(`{"response":{"code":1,"height":"3"}}`))
	f.Add([]byte(`{"response":{"proofOps":{"ops":[]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseProved(b)
		if err != nil {
			return
		}
		if p.Height < 0 {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func TestParseProved(t *testing.T) {
	p, err := parseProved([]byte(provedSeed))
	if err != nil {
		t.Fatal(err)
	}
	if p.Height != 2 || p.Code != 0 || string(p.Key) != "A" || len(p.Proof) == 0 || len(p.Value) == 0 {
		t.Fatalf("parsed %+v", p)
	}
	for _, bad := range []string{`{"response":{"proofOps":{"ops":[{"type":"ics23:iavl"}]}}}`, `{"response":{"height":"-1"}}`, `[`} {
		if _, err := parseProved([]byte(bad)); err == nil {
			t.Errorf("parsed %s", bad)
		}
	}
}

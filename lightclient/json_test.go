package lightclient_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/lightclient"
)

// The decoders refuse, each with its sentinel, what a node must not
// serve; they take the JSON-RPC answer or its result alike.
func TestDecodersRefuse(t *testing.T) {
	vec := loadVectors(t)
	commit, vals := vec.commit[8], vec.vals[8]
	result := func(b []byte) []byte { // the result alone
		var r struct{ Result json.RawMessage }
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r.Result
	}
	rpcError := []byte(`{"jsonrpc":"2.0","id":-1,"error":{"code":-32603,"message":"Internal error","data":"height 99 must be less than or equal to the current blockchain height 21"}}`)
	for _, tc := range []struct {
		name   string
		decode func([]byte) error
		b      []byte
		want   error
	}{
		{"commit", decodeCommit, commit, nil},
		{"commit, the result alone", decodeCommit, result(commit), nil},
		{"commit, an error answer", decodeCommit, rpcError, lightclient.ErrMalformed},
		{"commit, no result", decodeCommit, []byte(`{"jsonrpc":"2.0","id":-1}`), lightclient.ErrMalformed},
		{"commit, not JSON", decodeCommit, []byte(`<html>`), lightclient.ErrMalformed},
		{"commit, too large", decodeCommit, append(bytes.Repeat([]byte(" "), lightclient.MaxCommitSize), commit...), lightclient.ErrMalformed},
		{"commit, no signed header", decodeCommit, []byte(`{"jsonrpc":"2.0","id":-1,"result":{"canonical":true}}`), lightclient.ErrMalformed},
		{"commit, a height as a number", decodeCommit, edit(t, commit, "result.signed_header.header.height", set(8)), lightclient.ErrMalformed},
		{"commit, a hash not hex", decodeCommit, edit(t, commit, "result.signed_header.header.app_hash", set("xyz")), lightclient.ErrMalformed},
		{"commit, a signature not base64", decodeCommit, edit(t, commit, "result.signed_header.commit.signatures.0.signature", set("!!")), lightclient.ErrMalformed},
		{"commit, a time not RFC 3339", decodeCommit, edit(t, commit, "result.signed_header.header.time", set("yesterday")), lightclient.ErrMalformed},
		{"validators", decodeValidators, vals, nil},
		{"validators, the result alone", decodeValidators, result(vals), nil},
		{"validators, an error answer", decodeValidators, rpcError, lightclient.ErrMalformed},
		{"validators, too large", decodeValidators, append(bytes.Repeat([]byte(" "), lightclient.MaxValidatorsSize), vals...), lightclient.ErrMalformed},
		{"validators, an empty page", decodeValidators, edit(t, vals, "result.validators", set([]any{})), lightclient.ErrMalformed},
		{"validators, a count that is not the page's", decodeValidators, edit(t, vals, "result.count", set("3")), lightclient.ErrMalformed},
		{"validators, a total below the count", decodeValidators, edit(t, vals, "result.total", set("3")), lightclient.ErrMalformed},
		{"validators, no height", decodeValidators, edit(t, vals, "result.block_height", set("0")), lightclient.ErrMalformed},
		{"validators, a secp256k1 key", decodeValidators, edit(t, vals, "result.validators.0.pub_key.type", set("tendermint/PubKeySecp256k1")), lightclient.ErrUnsupportedKey},
		{"validators, a key of 31 bytes", decodeValidators, edit(t, vals, "result.validators.0.pub_key.value", set("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")), lightclient.ErrMalformed},
		{"validators, a power as a number", decodeValidators, edit(t, vals, "result.validators.0.voting_power", set(10)), lightclient.ErrMalformed},
		{"genesis", decodeGenesis, vec.genesis, nil},
		{"genesis, the file", decodeGenesis, edit(t, vec.genesis, "result.genesis", func(v any) any { return v }), nil},
		{"genesis, no validators", decodeGenesis, edit(t, vec.genesis, "result.genesis.validators", set([]any{})), lightclient.ErrInvalidValidators},
		{"genesis, a validator twice", decodeGenesis, edit(t, vec.genesis, "result.genesis.validators", func(v any) any {
			vs := v.([]any)
			return append(vs, vs[0])
		}), lightclient.ErrInvalidValidators},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.b)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func decodeCommit(b []byte) error { _, err := lightclient.DecodeCommit(b); return err }

func decodeValidators(b []byte) error { _, err := lightclient.DecodeValidators(b); return err }

func decodeGenesis(b []byte) error { _, err := lightclient.DecodeGenesis(b); return err }

// Pages join into the set only if they are of one height and total, and
// together the whole set.
func TestJoinPages(t *testing.T) {
	kr := newKeyring(8, 15)
	vs := kr.set([]int{0, 1, 2, 3, 4}, []int64{5, 4, 3, 2, 1})
	var pages []*lightclient.ValidatorsPage
	for _, b := range servedValidators(t, 9, vs.Validators, 2) {
		p, err := lightclient.DecodeValidators(b)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
	}
	other := *pages[1]
	other.Height = 10
	for _, tc := range []struct {
		name  string
		pages []*lightclient.ValidatorsPage
		ok    bool
	}{
		{"every page", pages, true},
		{"a page missing", pages[:2], false},
		{"a page twice", append(pages[:3:3], pages[2]), false},
		{"a page of another height", []*lightclient.ValidatorsPage{pages[0], &other, pages[2]}, false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := lightclient.JoinPages(tc.pages...)
			if tc.ok != (err == nil) {
				t.Fatalf("got %v", err)
			}
			if err == nil {
				sameBytes(t, "set hash", set.Hash(), vs.Hash())
			} else if !errors.Is(err, lightclient.ErrInvalidValidators) {
				t.Fatalf("got %v, want ErrInvalidValidators", err)
			}
		})
	}
}

package lightclient_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/light"

	"github.com/vitalchain/vitalchain/lightclient"
)

// The vectors of testdata/localnet are what a VitalChain network (4
// authorities and a standby, in process) served: its genesis, and /commit
// and /validators at heights that cover commits with an absent vote (node
// 3 stopped after height 7), the validators changing (the standby took
// cluster 4 over: the set of height 15 is another), and the last height
// (its commit not yet canonical). capture_test.go made them.
type vectors struct {
	genesis []byte
	heights []int64
	commit  map[int64][]byte
	vals    map[int64][]byte
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	dir := filepath.Join("testdata", "localnet")
	v := &vectors{commit: map[int64][]byte{}, vals: map[int64][]byte{}}
	var err error
	if v.genesis, err = os.ReadFile(filepath.Join(dir, "genesis.json")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "commit-*.json"))
	for _, f := range files {
		h, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "commit-"), ".json"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		v.heights = append(v.heights, h)
		if v.commit[h], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		if v.vals[h], err = os.ReadFile(filepath.Join(dir, "validators-"+strconv.FormatInt(h, 10)+".json")); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(v.heights)
	if len(v.heights) < 10 {
		t.Fatalf("%d heights in %s", len(v.heights), dir)
	}
	return v
}

func (v *vectors) at(t testing.TB, h int64) (*lightclient.SignedHeader, *lightclient.ValidatorSet) {
	t.Helper()
	sh := oursCommit(t, v.commit[h])
	vs, err := oursValidators([][]byte{v.vals[h]})
	if err != nil {
		t.Fatal(err)
	}
	return sh, vs
}

// now is a minute after the last header.
func (v *vectors) now(t testing.TB) time.Time {
	sh, _ := v.at(t, v.heights[len(v.heights)-1])
	return sh.Header.Time.Add(time.Minute)
}

// The chain's own answers verify: from its genesis, height after height
// (adjacent where the heights follow, skipping where not, across the
// change of validators); each header's hash is the next one's LastBlockID
// (the chain says so: a known answer for the hash); and CometBFT's light
// client agrees at every step.
func TestVectorsVerify(t *testing.T) {
	vec := loadVectors(t)
	now := vec.now(t)
	g, err := lightclient.DecodeGenesis(vec.genesis)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := lightclient.TrustGenesis(g)
	if err != nil {
		t.Fatal(err)
	}
	v, err := lightclient.New(tr, lightclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	changed := false
	for i, h := range vec.heights {
		sh, vs := vec.at(t, h)
		if err := v.Verify(now, sh, vs); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		if i > 0 && vec.heights[i-1] == h-1 {
			prev, _ := vec.at(t, h-1)
			sameBytes(t, "hash of the previous header", prev.Header.Hash(), sh.Header.LastBlockID.Hash)
			changed = changed || !bytes.Equal(prev.Header.ValidatorsHash, sh.Header.ValidatorsHash)
		}
		if i == 0 {
			continue
		}
		// CometBFT, from the previous captured height.
		from := vec.heights[i-1]
		theirTrusted, err := cometCommit(vec.commit[from])
		if err != nil {
			t.Fatal(err)
		}
		theirVals, err := cometValidators([][]byte{vec.vals[from]})
		if err != nil {
			t.Fatal(err)
		}
		theirSH, err := cometCommit(vec.commit[h])
		if err != nil {
			t.Fatal(err)
		}
		newVals, err := cometValidators([][]byte{vec.vals[h]})
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "header hash", sh.Header.Hash(), theirSH.Hash())
		sameBytes(t, "validator set hash", vs.Hash(), newVals.Hash())
		if err := light.Verify(theirTrusted, theirVals, theirSH, newVals, lightclient.DefaultTrustingPeriod, now, lightclient.DefaultMaxClockDrift, light.DefaultTrustLevel); err != nil {
			t.Fatalf("CometBFT, %d to %d: %v", from, h, err)
		}
	}
	if !changed {
		t.Fatal("the vectors never change validators between adjacent heights")
	}
	if v.Trusted().Height != vec.heights[len(vec.heights)-1] {
		t.Fatalf("trusted %d", v.Trusted().Height)
	}

	// Rooted at height 1 by its hash (the one header 2 names), then
	// skipping straight to the last, across the change of validators.
	sh1, vs1 := vec.at(t, 1)
	sh2, _ := vec.at(t, 2)
	tr, err = lightclient.TrustHeader(g.ChainID, 1, sh2.Header.LastBlockID.Hash, sh1, vs1)
	if err != nil {
		t.Fatal(err)
	}
	v, _ = lightclient.New(tr, lightclient.Options{})
	last := vec.heights[len(vec.heights)-1]
	sh, vs := vec.at(t, last)
	if err := v.Verify(now, sh, vs); err != nil {
		t.Fatalf("1 to %d: %v", last, err)
	}
}

// edit returns b, JSON, with the value at path (keys and indices, dotted)
// changed by f.
func edit(t testing.TB, b []byte, path string, f func(any) any) []byte {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var root any
	if err := d.Decode(&root); err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(path, ".")
	var walk func(node any, keys []string) any
	walk = func(node any, keys []string) any {
		if len(keys) == 0 {
			return f(node)
		}
		switch n := node.(type) {
		case map[string]any:
			if _, ok := n[keys[0]]; !ok {
				t.Fatalf("no %q in %s", keys[0], path)
			}
			n[keys[0]] = walk(n[keys[0]], keys[1:])
		case []any:
			i, err := strconv.Atoi(keys[0])
			if err != nil || i >= len(n) {
				t.Fatalf("no %q in %s", keys[0], path)
			}
			n[i] = walk(n[i], keys[1:])
		default:
			t.Fatalf("%s: %T", path, node)
		}
		return node
	}
	out, err := json.Marshal(walk(root, keys))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func set(v any) func(any) any { return func(any) any { return v } }

// flipHex changes a hex string's first digit; flipBase64, a base64
// string's first byte.
func flipHex(v any) any {
	s := v.(string)
	return strings.Replace(s[:1], s[:1], map[bool]string{true: "1", false: "0"}[s[0] == '0'], 1) + s[1:]
}

func flipBase64(v any) any {
	s := v.(string)
	c := "A"
	if s[0] == 'A' {
		c = "B"
	}
	return c + s[1:]
}

// Tampered copies of the chain's answers are refused, each with its
// sentinel: at height 8 (a commit with an absent vote, the next height
// after a trusted 7), 15 (the first of the new validators, after 14) and
// 20 (skipping from 16).
func TestTamperedVectorsFail(t *testing.T) {
	vec := loadVectors(t)
	now := vec.now(t)
	const (
		hdr   = "result.signed_header.header"
		cmt   = "result.signed_header.commit"
		vals  = "result.validators"
		first = cmt + ".signatures.0"
	)
	type tamper struct {
		name   string
		commit func([]byte) []byte
		vals   func([]byte) []byte
		want   error
	}
	c := func(path string, f func(any) any) func([]byte) []byte {
		return func(b []byte) []byte { return edit(t, b, path, f) }
	}
	// firstSigned is the index of the first vote for the block (the
	// first vote is counted: the one that crosses 2/3 is the third).
	firstSigned := func(b []byte) string {
		sh := oursCommit(t, b)
		for i, s := range sh.Commit.Signatures {
			if s.Flag == lightclient.FlagCommit {
				return strconv.Itoa(i)
			}
		}
		t.Fatal("no vote for the block")
		return ""
	}
	tampers := []tamper{
		{name: "as served"},
		{name: "app hash", commit: c(hdr+".app_hash", flipHex), want: lightclient.ErrInvalidHeader},
		{name: "chain ID", commit: c(hdr+".chain_id", set("vitalchain-other")), want: lightclient.ErrChainID},
		{name: "header time", commit: c(hdr+".time", set("2030-01-01T00:00:00Z")), want: lightclient.ErrInvalidHeader},
		{name: "header height", commit: c(hdr+".height", set("99")), want: lightclient.ErrInvalidHeader},
		{name: "next validators hash", commit: c(hdr+".next_validators_hash", flipHex), want: lightclient.ErrInvalidHeader},
		{name: "commit and header pointed elsewhere", commit: func(b []byte) []byte {
			b = edit(t, b, hdr+".app_hash", flipHex)
			return edit(t, b, cmt+".block_id.hash", set(strings.ToUpper(hexOf(oursCommit(t, b).Header.Hash()))))
		}, want: lightclient.ErrSignature},
		{name: "a signature", commit: func(b []byte) []byte {
			return edit(t, b, cmt+".signatures."+firstSigned(b)+".signature", flipBase64)
		}, want: lightclient.ErrSignature},
		{name: "a vote's time", commit: func(b []byte) []byte {
			return edit(t, b, cmt+".signatures."+firstSigned(b)+".timestamp", set("2030-01-01T00:00:00Z"))
		}, want: lightclient.ErrSignature},
		{name: "two votes for the block made ones for nil", commit: func(b []byte) []byte {
			b = edit(t, b, cmt+".signatures."+firstSigned(b)+".block_id_flag", set(3))
			return edit(t, b, cmt+".signatures."+firstSigned(b)+".block_id_flag", set(3))
		}, want: lightclient.ErrNotEnoughPower},
		{name: "the round", commit: c(cmt+".round", set(1)), want: lightclient.ErrSignature},
		{name: "votes swapped", commit: func(b []byte) []byte {
			var sigs any
			b = edit(t, b, cmt+".signatures", func(v any) any { sigs = v; return v })
			s := sigs.([]any)
			return edit(t, b, cmt+".signatures", set([]any{s[1], s[0], s[2], s[3]}))
		}, want: lightclient.ErrInvalidCommit},
		{name: "a validator's power", vals: c(vals+".0.voting_power", set("11")), want: lightclient.ErrValidatorsHash},
		{name: "a validator dropped", vals: func(b []byte) []byte {
			b = edit(t, b, vals, func(v any) any { return v.([]any)[1:] })
			b = edit(t, b, "result.count", set("3"))
			return edit(t, b, "result.total", set("3"))
		}, want: lightclient.ErrValidatorsHash},
		{name: "a validator's key", vals: c(vals+".0.pub_key.value", flipBase64), want: lightclient.ErrInvalidValidators},
		{name: "a validator's key and address", vals: func(b []byte) []byte {
			b = edit(t, b, vals+".0.pub_key.value", set("y8/lx2uT+mzlv8/XGO/OlqX172mIWJxuI/HFfsgNbog="))
			return edit(t, b, vals+".0.address", set(""))
		}, want: lightclient.ErrValidatorsHash},
	}
	for _, step := range []struct{ from, to int64 }{{7, 8}, {14, 15}, {16, 20}} {
		for _, tp := range tampers {
			t.Run(strconv.FormatInt(step.to, 10)+"/"+tp.name, func(t *testing.T) {
				sh, vs := vec.at(t, step.from)
				tr, err := lightclient.TrustHeader("vitalchain-testnet", step.from, sh.Header.Hash(), sh, vs)
				if err != nil {
					t.Fatal(err)
				}
				cb, vb := vec.commit[step.to], vec.vals[step.to]
				if tp.commit != nil {
					cb = tp.commit(cb)
				}
				if tp.vals != nil {
					vb = tp.vals(vb)
				}
				err = func() error {
					nsh, err := lightclient.DecodeCommit(cb)
					if err != nil {
						return err
					}
					nvs, err := oursValidators([][]byte{vb})
					if err != nil {
						return err
					}
					_, err = tr.Next(now, nsh, nvs, lightclient.Options{})
					return err
				}()
				if tp.want == nil && err != nil || tp.want != nil && !errors.Is(err, tp.want) {
					t.Fatalf("got %v, want %v", err, tp.want)
				}
			})
		}
	}

	// A genesis with another power does not root this chain.
	g, err := lightclient.DecodeGenesis(edit(t, vec.genesis, "result.genesis.validators.0.power", set("11")))
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := lightclient.TrustGenesis(g)
	sh, vs := vec.at(t, 1)
	if _, err := tr.Next(now, sh, vs, lightclient.Options{}); !errors.Is(err, lightclient.ErrValidatorsHash) {
		t.Fatalf("a genesis with another power: %v", err)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

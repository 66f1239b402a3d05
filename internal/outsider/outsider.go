// Package outsider reads the ledger as an outsider would: anyone with
// CometBFT's RPC, no key. It walks every block, decodes every transaction
// with the ledger's decoder and reads every event, and reports what health
// information it finds (issue 13): a vital sign (by its code in a typed
// field, its LOINC code or its name), a threshold expression, a severity, a
// device kind, free text, and a provider linked across patients by a key
// that appears in two patients' grants.
//
// It is the attack test of the ledger's privacy: package outsider's test
// runs the demo's system and scans its chain, and the demo's summary holds
// its verdict.
package outsider

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
)

// Category is a kind of leak.
type Category string

// The categories of leak.
const (
	VitalSign      Category = "vital_sign"      // a vital sign: a kind in a typed field, a LOINC code or a name
	Threshold      Category = "threshold"       // a rule's expression
	Severity       Category = "severity"        // an alert's or a rule's severity
	DeviceKind     Category = "device_kind"     // what a device measures
	FreeText       Category = "free_text"       // a text string that is not a protocol constant (a contract's name…)
	LinkedProvider Category = "linked_provider" // one provider key in two patients' grants
	Unreadable     Category = "unreadable"      // a transaction the ledger's decoder refuses (it was committed: a bug)
)

// Finding is one leak.
type Finding struct {
	Category Category
	Height   int64
	Tx       int    // index in its block; -1 for a finding over the whole chain
	What     string // the transaction type or event, and detail
}

func (f Finding) String() string {
	return fmt.Sprintf("%s at %d/%d: %s", f.Category, f.Height, f.Tx, f.What)
}

// Report is what a scan found.
type Report struct {
	Blocks, Txs, Events int
	Findings            []Finding
}

// Categories returns the categories of r's findings, sorted, each once.
func (r *Report) Categories() []Category {
	var out []Category
	for _, f := range r.Findings {
		if !slices.Contains(out, f.Category) {
			out = append(out, f.Category)
		}
	}
	slices.Sort(out)
	return out
}

// Clean reports whether the scan found nothing.
func (r *Report) Clean() bool { return len(r.Findings) == 0 }

// Scan reads blocks 1 to to (0: the node's height) from node.
func Scan(ctx context.Context, node client.Node, to int64) (*Report, error) {
	if to == 0 {
		h, err := node.Height(ctx)
		if err != nil {
			return nil, fmt.Errorf("outsider: height: %w", err)
		}
		to = h
	}
	s := newScanner()
	for h := int64(1); h <= to; h++ {
		b, err := node.Block(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("outsider: block %d: %w", h, err)
		}
		s.block(b)
	}
	return s.report(), nil
}

type scanner struct {
	r Report
	// grantees: per provider key named in a grant or revoke, the patients
	// that named it.
	grantees map[identity.ID]map[identity.ID]bool
	words    []string
}

// exprRE matches a comparison of the rule language's variables.
var exprRE = regexp.MustCompile(`(?i)\b(value|kind)\s*(<=|>=|==|!=|<|>)`)

func newScanner() *scanner {
	s := &scanner{grantees: map[identity.ID]map[identity.ID]bool{}}
	for _, k := range vital.Kinds() {
		in := k.Info()
		s.words = append(s.words, in.LOINC, in.Name, in.Display)
	}
	return s
}

func (s *scanner) add(c Category, h int64, tx int, format string, args ...any) {
	s.r.Findings = append(s.r.Findings, Finding{Category: c, Height: h, Tx: tx, What: fmt.Sprintf(format, args...)})
}

func (s *scanner) block(b *client.Block) {
	s.r.Blocks++
	for i, raw := range b.Txs {
		s.r.Txs++
		s.tx(b.Height, i, raw)
		if i < len(b.Results) {
			for _, e := range b.Results[i].Events {
				s.r.Events++
				s.event(b.Height, i, e)
			}
		}
	}
}

// text checks a string found anywhere for names, codes and expressions.
func (s *scanner) text(h int64, i int, where, t string) {
	low := strings.ToLower(t)
	for _, w := range s.words {
		if w != "" && strings.Contains(low, strings.ToLower(w)) {
			s.add(VitalSign, h, i, "%s: %q names %q", where, t, w)
			return
		}
	}
	if exprRE.MatchString(t) {
		s.add(Threshold, h, i, "%s: %q", where, t)
	}
	for sv := contract.Info; sv.Valid(); sv++ {
		if strings.EqualFold(t, sv.String()) {
			s.add(Severity, h, i, "%s: %q", where, t)
		}
	}
}

func (s *scanner) tx(h int64, i int, raw []byte) {
	d, err := ledger.Decode(raw)
	if err != nil {
		s.add(Unreadable, h, i, "%v", err)
		return
	}
	s.body(h, i, d.Tx.Type.String(), d.Tx.Body)
	s.typed(h, i, d)
}

// body checks every string of a transaction's body, at any depth, byte
// strings that hold CBOR included: an outsider decodes what it can.
func (s *scanner) body(h int64, i int, where string, body []byte) {
	walk(body, 0, func(t string) {
		if slices.Contains(command.Names, t) {
			return // a device command's name is a protocol constant
		}
		s.text(h, i, where, t)
		s.add(FreeText, h, i, "%s: %q", where, t)
	}, func(b []byte) {
		for _, w := range s.words {
			if len(w) >= 4 && bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(w))) {
				s.add(VitalSign, h, i, "%s: bytes hold %q", where, w)
			}
		}
		if exprRE.Match(b) {
			s.add(Threshold, h, i, "%s: bytes hold an expression", where)
		}
	})
}

// typed checks the fields whose type says what they are.
func (s *scanner) typed(h int64, i int, d *ledger.Decoded) {
	signer := d.Tx.SignerID()
	switch b := d.Body.(type) {
	case *ledger.Grant:
		s.grantee(b.Provider, signer)
	case *ledger.Revoke:
		s.grantee(b.Provider, signer)
	}
}

func (s *scanner) grantee(provider, patient identity.ID) {
	m := s.grantees[provider]
	if m == nil {
		m = map[identity.ID]bool{}
		s.grantees[provider] = m
	}
	m[patient] = true
}

func (s *scanner) event(h int64, i int, e ledger.Event) {
	for _, a := range e.Attrs {
		switch a.Key {
		case ledger.AttrKind:
			s.add(VitalSign, h, i, "event %s: %s=%s", e.Type, a.Key, a.Value)
		case ledger.AttrSeverity:
			s.add(Severity, h, i, "event %s: %s=%s", e.Type, a.Key, a.Value)
		default:
			s.text(h, i, "event "+e.Type, a.Value)
		}
	}
}

func (s *scanner) report() *Report {
	for p, pats := range s.grantees {
		if len(pats) > 1 {
			s.add(LinkedProvider, 0, -1, "provider key %s is in the grants of %d patients", p, len(pats))
		}
	}
	slices.SortStableFunc(s.r.Findings, func(a, b Finding) int { return strings.Compare(string(a.Category), string(b.Category)) })
	return &s.r
}

// maxDepth bounds the walk's recursion into nested CBOR.
const maxDepth = 16

// walk calls onText for every UTF-8 text string and onBytes for every byte
// string of the CBOR item b, decoding byte strings that are CBOR themselves.
func walk(b []byte, depth int, onText func(string), onBytes func([]byte)) {
	if depth > maxDepth {
		return
	}
	var v any
	if err := cbor.Unmarshal(b, &v); err != nil {
		return
	}
	walkValue(v, depth, onText, onBytes)
}

func walkValue(v any, depth int, onText func(string), onBytes func([]byte)) {
	switch x := v.(type) {
	case string:
		if x != "" && utf8.ValidString(x) {
			onText(x)
		}
	case []byte:
		onBytes(x)
		walk(x, depth+1, onText, onBytes)
	case []any:
		for _, e := range x {
			walkValue(e, depth, onText, onBytes)
		}
	case map[any]any:
		for k, e := range x {
			walkValue(k, depth, onText, onBytes)
			walkValue(e, depth, onText, onBytes)
		}
	case cbor.Tag:
		walkValue(x.Content, depth, onText, onBytes)
	}
}

// Package outsider reads the ledger as an outsider would: anyone with
// CometBFT's RPC, no key. It walks every block, decodes every transaction
// with the ledger's decoder and reads every event, and reports what health
// information it finds (issue 13): a vital sign (by its code in a typed
// field, its LOINC code or its name), a threshold expression, a severity, a
// device kind, free text, and a provider linked across patients: a
// registered provider's ID or public key found in two patients'
// transactions, in any field (the signer, a typed field, a byte string at
// any depth of the body, an event's attribute).
//
// It is the attack test of the ledger's privacy: package outsider's test
// runs the demo's system and scans its chain, and the demo's summary holds
// its verdict.
package outsider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
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
	LinkedProvider Category = "linked_provider" // one provider's ID or key in two patients' transactions
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
	// seen: per byte string (an ID, a key, any byte string of at least
	// minToken bytes) found in a patient's transaction, the patients in
	// whose transactions it was found.
	seen map[string]map[identity.ID]bool
	// providers: per registered provider (its ID), its ID and public keys
	// as byte strings; roles, devices and contracts: what registrations
	// and deployments said, to tell whose transaction one is.
	providers map[identity.ID][][]byte
	roles     map[identity.ID]identity.Role
	devices   map[identity.ID]identity.ID // device → its patient
	contracts map[[32]byte]identity.ID    // contract → its patient
	// lastPatients are the patients of the transaction whose events are
	// read next.
	lastPatients []identity.ID
	words        []string
}

// minToken is the shortest byte string the scan follows across patients:
// shorter ones (a nonce's part, a small number's bytes) repeat by chance.
const minToken = 16

// exprRE matches a comparison of the rule language's variables.
var exprRE = regexp.MustCompile(`(?i)\b(value|kind)\s*(<=|>=|==|!=|<|>)`)

func newScanner() *scanner {
	s := &scanner{seen: map[string]map[identity.ID]bool{}, providers: map[identity.ID][][]byte{},
		roles: map[identity.ID]identity.Role{}, devices: map[identity.ID]identity.ID{}, contracts: map[[32]byte]identity.ID{}}
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
	s.lastPatients = nil
	d, err := ledger.Decode(raw)
	if err != nil {
		s.add(Unreadable, h, i, "%v", err)
		return
	}
	s.body(h, i, d.Tx.Type.String(), d.Tx.Body)
	pats := s.typed(d)
	s.tokens(pats, d)
	s.lastPatients = pats
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

// typed learns from the fields whose type says what they are (members'
// roles and keys, devices' patients, contracts' patients) and returns the
// patients whose transaction d is: its signer's, or the patient it names.
func (s *scanner) typed(d *ledger.Decoded) []identity.ID {
	signer := d.Tx.SignerID()
	var pats []identity.ID
	if s.roles[signer] == identity.RolePatient {
		pats = append(pats, signer)
	}
	switch b := d.Body.(type) {
	case *ledger.Register:
		id := identity.ID(sha256.Sum256(b.Member.Verifying))
		s.roles[id] = b.Member.Role
		switch {
		case b.Member.Role == identity.RolePatient:
			pats = append(pats, id)
		case b.Member.Role == identity.RoleDevice:
			s.devices[id] = b.Patient
		case b.Member.Role == identity.RoleProvider:
			s.providers[id] = [][]byte{id[:], b.Member.Verifying, b.Member.Encryption}
		}
		if b.Patient != (identity.ID{}) {
			pats = append(pats, b.Patient)
		}
	case *ledger.DeployContract:
		s.contracts[b.ID()] = signer
	case *ledger.TerminateContract:
		if p, ok := s.contracts[b.ID]; ok {
			pats = append(pats, p)
		}
	case *ledger.ProviderRecord:
		pats = append(pats, b.Patient)
	case *ledger.DeviceCommand:
		if p, ok := s.devices[b.Device]; ok {
			pats = append(pats, p)
		}
	case *ledger.Alert:
		pats = append(pats, b.Patient)
	}
	return pats
}

// tokens notes every byte string of d, at any depth, and its signer's key
// and ID, as found in the transactions of pats.
func (s *scanner) tokens(pats []identity.ID, d *ledger.Decoded) {
	if len(pats) == 0 {
		return
	}
	signer := d.Tx.SignerID()
	s.note(pats, d.Tx.Signer)
	s.note(pats, signer[:])
	walk(d.Tx.Body, 0, func(string) {}, func(b []byte) { s.note(pats, b) })
}

func (s *scanner) note(pats []identity.ID, b []byte) {
	if len(b) < minToken {
		return
	}
	m := s.seen[string(b)]
	if m == nil {
		m = map[identity.ID]bool{}
		s.seen[string(b)] = m
	}
	for _, p := range pats {
		m[p] = true
	}
}

func (s *scanner) event(h int64, i int, e ledger.Event) {
	for _, a := range e.Attrs {
		// IDs and keys in events (hex) count as in the transaction's body.
		if b, err := hex.DecodeString(a.Value); err == nil {
			s.note(s.lastPatients, b)
		}
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
	for _, p := range slices.SortedFunc(maps.Keys(s.providers), func(a, b identity.ID) int { return bytes.Compare(a[:], b[:]) }) {
		for k, tok := range s.providers[p] {
			if n := len(s.seen[string(tok)]); len(tok) > 0 && n > 1 {
				s.add(LinkedProvider, 0, -1, "provider %s's %s is in the transactions of %d patients", p, [...]string{"ID", "signing key", "encryption key"}[k], n)
			}
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

package fhirapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// Errors of the bearer tokens.
var (
	// ErrToken: no token, a malformed one, or one this server did not issue
	// or that expired or was revoked.
	ErrToken = errors.New("fhirapi: missing, unknown or expired bearer token")
	// ErrClient: a client name is not 1 to 64 letters, digits, '.', '_' or '-'.
	ErrClient = errors.New("fhirapi: bad client name")
)

const (
	tokenPrefix = "vct_"
	// TokensFile is the token store's file name in the state directory.
	TokensFile = "fhir-tokens.json"
	// MaxTokens bounds the token store.
	MaxTokens = 4096
)

var clientName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Token is an issued bearer token as the store keeps it: its SHA-256,
// never the token itself.
type Token struct {
	Hash    string    `json:"hash"` // hex SHA-256 of the token
	Client  string    `json:"client"`
	Scope   string    `json:"scope"`             // space-separated SMART scopes
	Patient string    `json:"patient,omitempty"` // the patient context (hex), if bound to one
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
}

// grant is a verified token's rights.
type grant struct {
	client  string
	scopes  []Scope
	patient *identity.ID
	hash    string
}

// Tokens is the store of issued tokens: a JSON file in the state
// directory, written by `vitalchain provider token` and read by the
// server, which reads it again when it changed.
type Tokens struct {
	path string

	mu      sync.Mutex
	mod     time.Time
	size    int64
	byHash  map[string]Token
	entries []Token
}

// OpenTokens opens the token store of dir (an empty one if the file does
// not exist yet).
func OpenTokens(dir string) (*Tokens, error) {
	t := &Tokens{path: filepath.Join(dir, TokensFile)}
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokens) reload() error {
	fi, err := os.Stat(t.path)
	if errors.Is(err, os.ErrNotExist) {
		t.byHash, t.entries = map[string]Token{}, nil
		return nil
	}
	if err != nil {
		return err
	}
	if t.byHash != nil && fi.ModTime().Equal(t.mod) && fi.Size() == t.size {
		return nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return err
	}
	var file struct {
		Tokens []Token `json:"tokens"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return fmt.Errorf("fhirapi: %s: %w", t.path, err)
	}
	t.byHash = make(map[string]Token, len(file.Tokens))
	for _, e := range file.Tokens {
		t.byHash[e.Hash] = e
	}
	t.entries, t.mod, t.size = file.Tokens, fi.ModTime(), fi.Size()
	return nil
}

// Issue makes a new token for a client with the given scopes (checked
// with ParseScopes), bound to a patient if patient is not nil, valid for
// ttl, and stores its hash. It returns the token, which is shown once and
// kept nowhere.
func (t *Tokens) Issue(client, scope string, patient *identity.ID, ttl time.Duration, now time.Time) (string, error) {
	if !clientName.MatchString(client) {
		return "", fmt.Errorf("%w: %q", ErrClient, client)
	}
	scopes, err := ParseScopes(scope)
	if err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", errors.New("fhirapi: a token needs a positive lifetime")
	}
	var raw [32]byte
	rand.Read(raw[:])
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	e := Token{Hash: hashToken(tok), Client: client, Scope: joinScopes(scopes), Issued: now.UTC(), Expires: now.Add(ttl).UTC()}
	if patient != nil {
		e.Patient = patient.Hex()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reload(); err != nil {
		return "", err
	}
	var keep []Token
	for _, o := range t.entries {
		if o.Expires.After(now) {
			keep = append(keep, o)
		}
	}
	if len(keep) >= MaxTokens {
		return "", fmt.Errorf("fhirapi: %d tokens in force: revoke some first", len(keep))
	}
	if err := t.write(append(keep, e)); err != nil {
		return "", err
	}
	return tok, nil
}

// Revoke removes every token of a client and returns how many there were.
func (t *Tokens) Revoke(client string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reload(); err != nil {
		return 0, err
	}
	var keep []Token
	for _, o := range t.entries {
		if o.Client != client {
			keep = append(keep, o)
		}
	}
	n := len(t.entries) - len(keep)
	return n, t.write(keep)
}

// write replaces the file atomically.
func (t *Tokens) write(entries []Token) error {
	if entries == nil {
		entries = []Token{}
	}
	b, err := json.MarshalIndent(struct {
		Tokens []Token `json:"tokens"`
	}{entries}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(t.path, b); err != nil {
		return err
	}
	t.byHash = nil // read it back on the next look-up
	return t.reload()
}

// lookup verifies a bearer token.
func (t *Tokens) lookup(tok string, now time.Time) (*grant, error) {
	if !strings.HasPrefix(tok, tokenPrefix) || len(tok) != len(tokenPrefix)+43 {
		return nil, ErrToken
	}
	h := hashToken(tok)
	t.mu.Lock()
	err := t.reload()
	e, ok := t.byHash[h]
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("fhirapi: token store: %w", err)
	}
	if !ok || subtle.ConstantTimeCompare([]byte(e.Hash), []byte(h)) != 1 || !now.Before(e.Expires) {
		return nil, ErrToken
	}
	scopes, err := ParseScopes(e.Scope)
	if err != nil {
		return nil, fmt.Errorf("%w: stored scope: %w", ErrToken, err)
	}
	g := &grant{client: e.Client, scopes: scopes, hash: h}
	if e.Patient != "" {
		id, err := identity.ParseID(e.Patient)
		if err != nil {
			return nil, fmt.Errorf("%w: stored patient: %w", ErrToken, err)
		}
		g.patient = &id
	}
	return g, nil
}

// active reports whether a client holds a token in force: a client whose
// tokens were all revoked or expired gets no more notifications.
func (t *Tokens) active(client string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reload(); err != nil {
		return false
	}
	for _, e := range t.entries {
		if e.Client == client && now.Before(e.Expires) {
			return true
		}
	}
	return false
}

// ParseBearer returns the token of an Authorization header's value
// ("Bearer <token>", the scheme in any case), or ErrToken.
func ParseBearer(h string) (string, error) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 256 || strings.ContainsAny(tok, " \t") {
		return "", ErrToken
	}
	return tok, nil
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func joinScopes(ss []Scope) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.String())
	}
	return strings.Join(out, " ")
}

// writeAtomic writes a file by a rename, so that a reader sees the old or
// the new content.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

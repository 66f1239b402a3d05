package fhirapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const (
	// AccessFile is the access log's file name in the state directory.
	AccessFile = "fhir-access.jsonl"
	// MaxAccessKept bounds the entries the server keeps in memory to serve
	// as AuditEvents (the file keeps them all).
	MaxAccessKept = 100_000
)

// Access is one request to the API, as the access log keeps it: who (the
// token's client), what (the interaction, the resource type, the path and
// query), about whom, and how it ended. It holds no health data.
type Access struct {
	Seq         uint64    `json:"seq"` // from 1: the AuditEvent's id
	Time        time.Time `json:"time"`
	Client      string    `json:"client,omitempty"` // empty: no valid token
	Token       string    `json:"token,omitempty"`  // the first 16 hex digits of the token's SHA-256
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Query       string    `json:"query,omitempty"`
	Interaction string    `json:"interaction"`        // "read", "search-type", "create", "delete", "operation", "capabilities"
	Resource    string    `json:"resource,omitempty"` // the resource type
	Patients    []string  `json:"patients,omitempty"` // the patients the request touched (hex)
	Status      int       `json:"status"`             // the HTTP status answered
	Remote      string    `json:"remote,omitempty"`   // the client's address
}

// accessLog is the durable access log: JSON lines appended and synced
// before the answer is sent.
type accessLog struct {
	mu      sync.Mutex
	f       *os.File
	next    uint64
	entries []Access
}

func openAccessLog(dir string) (*accessLog, error) {
	path := filepath.Join(dir, AccessFile)
	l := &accessLog{next: 1}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var a Access
			if json.Unmarshal(sc.Bytes(), &a) != nil {
				continue // a line torn by a crash
			}
			l.keep(a)
			l.next = max(l.next, a.Seq+1)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("fhirapi: access log: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fhirapi: access log: %w", err)
	}
	l.f = f
	return l, nil
}

func (l *accessLog) keep(a Access) {
	if len(l.entries) >= MaxAccessKept {
		l.entries = append(l.entries[:0], l.entries[MaxAccessKept/10:]...)
	}
	l.entries = append(l.entries, a)
}

// add numbers an entry, writes it and syncs the file.
func (l *accessLog) add(a Access) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a.Seq = l.next
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("fhirapi: access log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("fhirapi: access log: %w", err)
	}
	l.next++
	l.keep(a)
	return nil
}

// list returns the kept entries that pass keep, oldest first.
func (l *accessLog) list(keep func(Access) bool) []Access {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Access
	for _, a := range l.entries {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

func (l *accessLog) close() error { return l.f.Close() }

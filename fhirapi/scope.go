package fhirapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrScope: a scope is not one this server understands.
var ErrScope = errors.New("fhirapi: bad scope")

// Permissions of SMART App Launch v2 scopes: create, read, update, delete,
// search.
const (
	PermCreate Perm = 1 << iota
	PermRead
	PermUpdate
	PermDelete
	PermSearch
)

// Perm is a set of SMART v2 permissions.
type Perm uint8

// ResourceTypes are the resource types this server serves, which a scope
// may name (or "*" for all of them).
var ResourceTypes = []string{"AuditEvent", "Consent", "Device", "Observation", "Patient", "Provenance", "Subscription"}

// Scope is one SMART on FHIR resource scope: "patient/Observation.rs".
type Scope struct {
	Context  string // "patient", "user" or "system"
	Resource string // a resource type of ResourceTypes, or "*"
	Perm     Perm
}

func (s Scope) String() string {
	var b strings.Builder
	for i, c := range "cruds" {
		if s.Perm&(1<<i) != 0 {
			b.WriteRune(c)
		}
	}
	return s.Context + "/" + s.Resource + "." + b.String()
}

// ParseScope parses one scope in SMART v2 syntax ("patient/Observation.rs":
// context, resource type or "*", then permissions among c, r, u, d, s in
// that order), or v1 ("user/*.read", ".write", ".*"). Granular scopes (with
// a "?" query) and launch scopes are refused with ErrScope.
func ParseScope(s string) (Scope, error) {
	if len(s) > 64 {
		return Scope{}, fmt.Errorf("%w: too long", ErrScope)
	}
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok || (ctx != "patient" && ctx != "user" && ctx != "system") {
		return Scope{}, fmt.Errorf("%w: %q: want patient/, user/ or system/", ErrScope, s)
	}
	if strings.Contains(rest, "?") {
		return Scope{}, fmt.Errorf("%w: %q: granular scopes are not supported", ErrScope, s)
	}
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok || (typ != "*" && !slices.Contains(ResourceTypes, typ)) {
		return Scope{}, fmt.Errorf("%w: %q: unknown resource type", ErrScope, s)
	}
	sc := Scope{Context: ctx, Resource: typ}
	switch perms {
	case "read":
		sc.Perm = PermRead | PermSearch
	case "write":
		sc.Perm = PermCreate | PermUpdate | PermDelete
	case "*":
		sc.Perm = PermCreate | PermRead | PermUpdate | PermDelete | PermSearch
	default:
		last := -1
		for _, c := range perms {
			i := strings.IndexRune("cruds", c)
			if i <= last {
				return Scope{}, fmt.Errorf("%w: %q: permissions are c, r, u, d, s, each once, in that order", ErrScope, s)
			}
			last = i
			sc.Perm |= 1 << i
		}
		if sc.Perm == 0 {
			return Scope{}, fmt.Errorf("%w: %q: no permission", ErrScope, s)
		}
	}
	return sc, nil
}

// ParseScopes parses a space-separated list of scopes (at most 32).
func ParseScopes(s string) ([]Scope, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 32 {
		return nil, fmt.Errorf("%w: want 1 to 32 scopes", ErrScope)
	}
	out := make([]Scope, 0, len(fields))
	for _, f := range fields {
		sc, err := ParseScope(f)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// allows reports whether scopes grant perm on a resource type.
func allows(scopes []Scope, resource string, perm Perm) bool {
	for _, s := range scopes {
		if (s.Resource == "*" || s.Resource == resource) && s.Perm&perm == perm {
			return true
		}
	}
	return false
}

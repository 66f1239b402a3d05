package identity

import (
	"errors"
	"fmt"
	"strconv"
)

// Role is what an actor is in the system. The zero Role is invalid.
type Role uint8

// The roles. Their numbers are part of the wire format.
const (
	RolePatient   Role = 1 // a patient's gateway ("requestee")
	RoleProvider  Role = 2 // a healthcare provider ("requester")
	RoleDevice    Role = 3 // a wearable device
	RoleCloud     Role = 4 // a cloud storage node
	RoleAuthority Role = 5 // a Cluster Head, or a node eligible to become one
)

var roleNames = [...]string{
	RolePatient:   "patient",
	RoleProvider:  "provider",
	RoleDevice:    "device",
	RoleCloud:     "cloud",
	RoleAuthority: "authority",
}

// Roles lists every valid role.
func Roles() []Role {
	return []Role{RolePatient, RoleProvider, RoleDevice, RoleCloud, RoleAuthority}
}

// ErrUnknownRole is returned for a role name or number that does not exist.
var ErrUnknownRole = errors.New("unknown role")

// ErrWrongRole is returned when a key of one role is used where another is required.
var ErrWrongRole = errors.New("wrong key role")

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r != 0 && int(r) < len(roleNames) }

// String returns the role's name.
func (r Role) String() string {
	if !r.Valid() {
		return "role(" + strconv.Itoa(int(r)) + ")"
	}
	return roleNames[r]
}

// ParseRole returns the role with the given name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if roleNames[r] == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want patient, provider, device, cloud or authority)", ErrUnknownRole, s)
}

// Receives reports whether actors of role r receive secrets (session keys)
// and so have an HPKE key pair.
func (r Role) Receives() bool { return r == RolePatient || r == RoleProvider }

// Want returns nil if r is want, or an error wrapping ErrWrongRole.
func (r Role) Want(want Role) error {
	if r != want {
		return fmt.Errorf("%w: %s key where %s is required", ErrWrongRole, r, want)
	}
	return nil
}

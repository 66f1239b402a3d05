package identity_test

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestRoles(t *testing.T) {
	want := []struct {
		role     identity.Role
		name     string
		receives bool
	}{
		{identity.RolePatient, "patient", true},
		{identity.RoleProvider, "provider", true},
		{identity.RoleDevice, "device", false},
		{identity.RoleCloud, "cloud", false},
		{identity.RoleAuthority, "authority", false},
	}
	roles := identity.Roles()
	if len(roles) != len(want) {
		t.Fatalf("Roles() = %v, want %d roles", roles, len(want))
	}
	for i, w := range want {
		r := roles[i]
		if r != w.role || !r.Valid() || r.String() != w.name || r.Receives() != w.receives {
			t.Errorf("role %d: got %d %q valid=%v receives=%v, want %d %q receives=%v",
				i, r, r, r.Valid(), r.Receives(), w.role, w.name, w.receives)
		}
		got, err := identity.ParseRole(w.name)
		if err != nil || got != w.role {
			t.Errorf("ParseRole(%q) = %v, %v; want %v", w.name, got, err, w.role)
		}
	}
}

func TestRoleNumbers(t *testing.T) {
	// The numbers are part of the wire format.
	for r, n := range map[identity.Role]uint8{
		identity.RolePatient: 1, identity.RoleProvider: 2, identity.RoleDevice: 3,
		identity.RoleCloud: 4, identity.RoleAuthority: 5,
	} {
		if uint8(r) != n {
			t.Errorf("%s = %d, want %d", r, uint8(r), n)
		}
	}
}

func TestInvalidRole(t *testing.T) {
	for _, r := range []identity.Role{0, 6, 255} {
		if r.Valid() || r.Receives() {
			t.Errorf("Role(%d): Valid=%v Receives=%v", r, r.Valid(), r.Receives())
		}
	}
	if s := identity.Role(0).String(); s != "role(0)" {
		t.Errorf("Role(0).String() = %q", s)
	}
	if s := identity.Role(42).String(); s != "role(42)" {
		t.Errorf("Role(42).String() = %q", s)
	}
	for _, s := range []string{"", "Patient", "PATIENT", "doctor", "role(0)", "patient ", "1"} {
		if _, err := identity.ParseRole(s); !errors.Is(err, identity.ErrUnknownRole) {
			t.Errorf("ParseRole(%q) = %v, want ErrUnknownRole", s, err)
		}
	}
}

func TestRoleWant(t *testing.T) {
	if err := identity.RoleDevice.Want(identity.RoleDevice); err != nil {
		t.Errorf("Want(same) = %v", err)
	}
	err := identity.RoleDevice.Want(identity.RolePatient)
	if !errors.Is(err, identity.ErrWrongRole) {
		t.Fatalf("Want(other) = %v, want ErrWrongRole", err)
	}
	if err.Error() != "wrong key role: device key where patient is required" {
		t.Errorf("Want(other) message = %q", err)
	}
}

func TestSuites(t *testing.T) {
	for _, tc := range []struct {
		suite identity.Suite
		name  string
		kemID uint16
	}{
		{identity.SuiteX25519, "x25519", 0x0020},
		{identity.SuiteMLKEM768X25519, "mlkem768x25519", 0x647a},
	} {
		if !tc.suite.Valid() || tc.suite.String() != tc.name {
			t.Errorf("suite %#x: Valid=%v String=%q, want %q", uint16(tc.suite), tc.suite.Valid(), tc.suite, tc.name)
		}
		got, err := identity.ParseSuite(tc.name)
		if err != nil || got != tc.suite {
			t.Errorf("ParseSuite(%q) = %v, %v", tc.name, got, err)
		}
		kem, err := tc.suite.KEM()
		if err != nil {
			t.Fatalf("%s.KEM(): %v", tc.suite, err)
		}
		if kem.ID() != tc.kemID || uint16(tc.suite) != tc.kemID {
			t.Errorf("%s: KEM ID %#x, suite number %#x, want %#x", tc.suite, kem.ID(), uint16(tc.suite), tc.kemID)
		}
	}
	if identity.DefaultSuite != identity.SuiteMLKEM768X25519 {
		t.Errorf("DefaultSuite = %s", identity.DefaultSuite)
	}
	if id := identity.KDF().ID(); id != 0x0001 {
		t.Errorf("KDF ID = %#x, want HKDF-SHA256 (0x0001)", id)
	}
	if id := identity.AEAD().ID(); id != 0x0002 {
		t.Errorf("AEAD ID = %#x, want AES-256-GCM (0x0002)", id)
	}
}

func TestInvalidSuite(t *testing.T) {
	for _, s := range []identity.Suite{0, 0x0010, 0x0021, 0xffff} {
		if s.Valid() {
			t.Errorf("Suite(%#x).Valid()", uint16(s))
		}
		if _, err := s.KEM(); !errors.Is(err, identity.ErrUnknownSuite) {
			t.Errorf("Suite(%#x).KEM() = %v, want ErrUnknownSuite", uint16(s), err)
		}
	}
	if s := identity.Suite(0x10).String(); s != "suite(0x10)" {
		t.Errorf("Suite(0x10).String() = %q", s)
	}
	for _, s := range []string{"", "X25519", "ed25519", "mlkem768", "suite(0x10)"} {
		if _, err := identity.ParseSuite(s); !errors.Is(err, identity.ErrUnknownSuite) {
			t.Errorf("ParseSuite(%q) = %v, want ErrUnknownSuite", s, err)
		}
	}
}

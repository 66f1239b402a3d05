package identity_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

func mustGenerate(t testing.TB, role identity.Role, suite identity.Suite) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(role, suite)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func samePublic(a, b identity.Public) bool {
	return a.Role == b.Role && a.Verifying.Equal(b.Verifying) &&
		a.Encryption.IsZero() == b.Encryption.IsZero() &&
		a.Encryption.Suite() == b.Encryption.Suite() &&
		a.Encryption.Role() == b.Encryption.Role() &&
		bytes.Equal(a.Encryption.Bytes(), b.Encryption.Bytes())
}

func TestGenerate(t *testing.T) {
	for _, role := range identity.Roles() {
		for _, suite := range suites {
			id := mustGenerate(t, role, suite)
			p := id.Public()
			if id.Role() != role || p.Role != role || p.Verifying.Role() != role {
				t.Fatalf("%s: roles %s %s %s", role, id.Role(), p.Role, p.Verifying.Role())
			}
			if id.ID() != p.Verifying.ID() {
				t.Fatalf("%s: ID is not the verifying key's", role)
			}
			if role.Receives() {
				if id.Decryption == nil || p.Encryption.IsZero() || p.Encryption.Suite() != suite || p.Encryption.Role() != role {
					t.Fatalf("%s/%s: no or wrong decryption key", role, suite)
				}
			} else if id.Decryption != nil || !p.Encryption.IsZero() {
				t.Fatalf("%s: has a decryption key", role)
			}
		}
	}
	if _, err := identity.Generate(0, identity.DefaultSuite); !errors.Is(err, identity.ErrUnknownRole) {
		t.Errorf("Generate(0) = %v, want ErrUnknownRole", err)
	}
	if _, err := identity.Generate(identity.RolePatient, 0x10); !errors.Is(err, identity.ErrUnknownSuite) {
		t.Errorf("Generate(patient, 0x10) = %v, want ErrUnknownSuite", err)
	}
	// The suite does not matter for roles that receive nothing.
	if _, err := identity.Generate(identity.RoleDevice, 0x10); err != nil {
		t.Errorf("Generate(device, 0x10) = %v", err)
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, role := range identity.Roles() {
		for _, suite := range suites {
			if !role.Receives() && suite != identity.DefaultSuite {
				continue
			}
			t.Run(role.String()+"/"+suite.String(), func(t *testing.T) {
				id := mustGenerate(t, role, suite)
				path := filepath.Join(dir, role.String()+"-"+suite.String()+".key")
				if err := identity.WriteFile(path, id); err != nil {
					t.Fatalf("WriteFile: %v", err)
				}
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
					t.Fatalf("mode %#o, want 0600", st.Mode().Perm())
				}
				got, err := identity.ReadFile(path)
				if err != nil {
					t.Fatalf("ReadFile: %v", err)
				}
				if !samePublic(got.Public(), id.Public()) {
					t.Fatal("ReadFile gave other public keys")
				}
				if got.Signing.String() != id.Signing.String() {
					t.Fatal("ReadFile gave another signing key")
				}
				if (got.Decryption == nil) != (id.Decryption == nil) ||
					(got.Decryption != nil && got.Decryption.String() != id.Decryption.String()) {
					t.Fatal("ReadFile gave another decryption key")
				}

				// Refuses to overwrite, and leaves the file as it was.
				before, _ := os.ReadFile(path)
				err = identity.WriteFile(path, mustGenerate(t, role, suite))
				if !errors.Is(err, identity.ErrFileExists) {
					t.Fatalf("second WriteFile = %v, want ErrFileExists", err)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Fatal("refused WriteFile changed the file")
				}
			})
		}
	}
}

// TestKeyFileComments checks that the comment lines hold only public keys and
// that the secret keys appear once each, on their own lines.
func TestKeyFileComments(t *testing.T) {
	for _, role := range []identity.Role{identity.RolePatient, identity.RoleDevice} {
		id := mustGenerate(t, role, identity.DefaultSuite)
		created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
		text := string(id.Marshal(created))
		secrets := []string{id.Signing.String()}
		if id.Decryption != nil {
			secrets = append(secrets, id.Decryption.String())
		}
		var comments, keys []string
		for line := range strings.Lines(text) {
			line = strings.TrimSuffix(line, "\n")
			if strings.HasPrefix(line, "#") {
				comments = append(comments, line)
			} else {
				keys = append(keys, line)
			}
		}
		if strings.Join(keys, "\n") != strings.Join(secrets, "\n") {
			t.Errorf("%s: key lines %q, want the secret keys", role, keys)
		}
		p := id.Public()
		wantComments := []string{
			"# VitalChain key file: keep it secret.",
			"# created: 2025-03-01T11:00:00Z",
			"# role: " + role.String(),
			"# id: " + p.Verifying.ID().Hex(),
			"# signing key: " + p.Verifying.String(),
		}
		if role.Receives() {
			wantComments = append(wantComments, "# encryption key: "+p.Encryption.String())
		}
		if strings.Join(comments, "\n") != strings.Join(wantComments, "\n") {
			t.Errorf("%s: comments\n%s\nwant\n%s", role, strings.Join(comments, "\n"), strings.Join(wantComments, "\n"))
		}
		for _, c := range comments {
			if strings.Contains(c, "-sec:") {
				t.Errorf("%s: comment %q holds a secret key", role, c)
			}
			for _, s := range secrets {
				_, body, _ := strings.Cut(s, ":")
				if strings.Contains(c, body[:16]) {
					t.Errorf("%s: comment %q holds secret key material", role, c)
				}
			}
		}
	}
}

func TestReadFileInsecure(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "k")
	if err := identity.WriteFile(path, mustGenerate(t, identity.RoleDevice, identity.DefaultSuite)); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o620, 0o602, 0o610, 0o644, 0o666, 0o700 | 0o070} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.ReadFile(path); !errors.Is(err, identity.ErrInsecureFile) {
			t.Errorf("mode %#o: %v, want ErrInsecureFile", mode, err)
		}
	}
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.ReadFile(path); err != nil {
			t.Errorf("mode %#o: %v", mode, err)
		}
	}
}

func TestReadFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{"directory": dir}
	if runtime.GOOS != "windows" {
		fifo := filepath.Join(dir, "fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		cases["fifo"] = fifo
		if _, err := os.Stat("/dev/null"); err == nil {
			cases["device"] = "/dev/null"
		}
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := identity.ReadFile(path)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, identity.ErrKeyFile) {
					t.Fatalf("ReadFile(%s) = %v, want ErrKeyFile", name, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("ReadFile(%s) blocked", name)
			}
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := identity.ReadFile(filepath.Join(t.TempDir(), "none"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestWriteFileErrors(t *testing.T) {
	id := mustGenerate(t, identity.RoleDevice, identity.DefaultSuite)
	dir := t.TempDir()
	// Existing file that is not a key file.
	path := filepath.Join(dir, "x")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := identity.WriteFile(path, id); !errors.Is(err, identity.ErrFileExists) {
		t.Fatalf("WriteFile(existing) = %v, want ErrFileExists", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatal("WriteFile changed an existing file")
	}
	// A directory is an existing file too.
	if err := identity.WriteFile(dir, id); !errors.Is(err, identity.ErrFileExists) {
		t.Fatalf("WriteFile(dir) = %v, want ErrFileExists", err)
	}
	// A dangling symbolic link is not followed.
	if runtime.GOOS != "windows" {
		link := filepath.Join(dir, "link")
		target := filepath.Join(dir, "target")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := identity.WriteFile(link, id); !errors.Is(err, identity.ErrFileExists) {
			t.Fatalf("WriteFile(dangling link) = %v, want ErrFileExists", err)
		}
		if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal("WriteFile wrote through a symbolic link")
		}
	}
	// No such directory.
	if err := identity.WriteFile(filepath.Join(dir, "no", "k"), id); err == nil || errors.Is(err, identity.ErrFileExists) {
		t.Fatalf("WriteFile(no dir) = %v", err)
	}
}

func TestParseKeyFileErrors(t *testing.T) {
	patient := mustGenerate(t, identity.RolePatient, identity.SuiteX25519)
	provider := mustGenerate(t, identity.RoleProvider, identity.SuiteX25519)
	device := mustGenerate(t, identity.RoleDevice, identity.DefaultSuite)
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

	for _, tc := range []struct {
		name  string
		text  string
		inner error // also matched, if not nil
	}{
		{"empty", "", nil},
		{"only comments", "# VitalChain key file\n# signing key: " + device.Signing.Public().String() + "\n", nil},
		{"no signing key", lines(patient.Decryption.String()), nil},
		{"two signing keys", lines(device.Signing.String(), device.Signing.String()), nil},
		{"two decryption keys", lines(patient.Signing.String(), patient.Decryption.String(), patient.Decryption.String()), nil},
		{"patient without decryption key", lines(patient.Signing.String()), nil},
		{"provider without decryption key", lines(provider.Signing.String()), nil},
		{"device with a decryption key", lines(device.Signing.String(), patient.Decryption.String()), nil},
		{"decryption key of another role", lines(patient.Signing.String(), provider.Decryption.String()), nil},
		{"garbage line", lines(device.Signing.String(), "hello world"), identity.ErrBadEncoding},
		{"uncommented public key", lines(device.Signing.String(), device.Signing.Public().String()), identity.ErrWrongKind},
		{"uncommented encryption key", lines(patient.Signing.String(), patient.Decryption.String(), patient.Decryption.Public().String()), nil},
		{"bad checksum", lines(strings.Replace(device.Signing.String(), "device", "cloud", 1)), identity.ErrBadChecksum},
		{"bad signing key", lines("vc-device-ed25519-sec:AAAA"), identity.ErrBadEncoding},
		{"line too long", lines(device.Signing.String(), strings.Repeat("x", 70<<10)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := identity.Parse(strings.NewReader(tc.text))
			if !errors.Is(err, identity.ErrKeyFile) {
				t.Fatalf("Parse = %v, want ErrKeyFile", err)
			}
			if tc.inner != nil && !errors.Is(err, tc.inner) {
				t.Fatalf("Parse = %v, want it to wrap %v", err, tc.inner)
			}
			for _, s := range []string{patient.Signing.String(), device.Signing.String()} {
				_, body, _ := strings.Cut(s, ":")
				if strings.Contains(err.Error(), body) {
					t.Fatalf("error message holds a secret key: %v", err)
				}
			}
		})
	}
}

func TestParseKeyFileTolerant(t *testing.T) {
	id := mustGenerate(t, identity.RoleProvider, identity.SuiteX25519)
	// Blank lines, comments anywhere, surrounding spaces, CRLF line ends, and
	// the decryption key before the signing key.
	text := "\r\n# comment\r\n  " + id.Decryption.String() + "  \r\n\r\n\t# another\r\n" + id.Signing.String() + "\r\n"
	got, err := identity.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !samePublic(got.Public(), id.Public()) {
		t.Fatal("Parse gave other keys")
	}
	// No final newline.
	text = id.Signing.String() + "\n" + id.Decryption.String()
	if _, err := identity.Parse(strings.NewReader(text)); err != nil {
		t.Fatalf("Parse without final newline: %v", err)
	}
}

// TestParseKeyFileTooLarge checks that a key file over the size bound is
// refused rather than read in part.
func TestParseKeyFileTooLarge(t *testing.T) {
	id := mustGenerate(t, identity.RoleDevice, identity.DefaultSuite)
	padding := strings.Repeat("# padding padding padding padding padding padding padding padding\n", (64<<10)/66+1)
	// Keys first, then the padding: a reader that stops at the bound would
	// find a complete file.
	text := id.Signing.String() + "\n" + padding
	if _, err := identity.Parse(strings.NewReader(text)); !errors.Is(err, identity.ErrKeyFile) {
		t.Fatalf("Parse of %d bytes = %v, want ErrKeyFile", len(text), err)
	}
	// Just under the bound is fine.
	text = id.Signing.String() + "\n" + padding[:(64<<10)-len(id.Signing.String())-1-66]
	if _, err := identity.Parse(strings.NewReader(text)); err != nil {
		t.Fatalf("Parse of %d bytes = %v", len(text), err)
	}
}

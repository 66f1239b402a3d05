package identity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Identity is everything secret an actor holds: its signing key and, for
// roles that receive secrets, its decryption key.
type Identity struct {
	Signing    *SigningKey
	Decryption *DecryptionKey // nil for roles that receive no secrets
}

// Public is what an actor publishes: its role and public keys.
type Public struct {
	Role       Role
	Verifying  VerifyingKey
	Encryption EncryptionKey // zero for roles that receive no secrets
}

// Generate returns a new identity for role; suite is used only for roles that
// receive secrets.
func Generate(role Role, suite Suite) (*Identity, error) {
	sk, err := GenerateSigningKey(role)
	if err != nil {
		return nil, err
	}
	id := &Identity{Signing: sk}
	if role.Receives() {
		if id.Decryption, err = GenerateDecryptionKey(role, suite); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// Role returns the identity's role.
func (id *Identity) Role() Role { return id.Signing.Role() }

// ID returns the identity's actor ID.
func (id *Identity) ID() ID { return id.Signing.Public().ID() }

// Public returns the identity's public keys.
func (id *Identity) Public() Public {
	p := Public{Role: id.Role(), Verifying: id.Signing.Public()}
	if id.Decryption != nil {
		p.Encryption = id.Decryption.Public()
	}
	return p
}

// Errors about key files.
var (
	ErrInsecureFile = errors.New("key file is readable or writable by others")
	ErrKeyFile      = errors.New("bad key file")
	ErrFileExists   = errors.New("key file already exists")
)

// maxKeyFile bounds the size of a key file.
const maxKeyFile = 64 << 10

// Marshal returns the identity as the text of a key file: comment lines with
// the public keys, then one secret key per line.
func (id *Identity) Marshal(created time.Time) []byte {
	var b bytes.Buffer
	p := id.Public()
	fmt.Fprintf(&b, "# VitalChain key file: keep it secret.\n")
	fmt.Fprintf(&b, "# created: %s\n", created.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# role: %s\n", p.Role)
	fmt.Fprintf(&b, "# id: %s\n", p.Verifying.ID().Hex())
	fmt.Fprintf(&b, "# signing key: %s\n", p.Verifying)
	if !p.Encryption.IsZero() {
		fmt.Fprintf(&b, "# encryption key: %s\n", p.Encryption)
	}
	fmt.Fprintf(&b, "%s\n", id.Signing)
	if id.Decryption != nil {
		fmt.Fprintf(&b, "%s\n", id.Decryption)
	}
	return b.Bytes()
}

// Parse reads a key file's text, which must be at most 64 KiB.
func Parse(r io.Reader) (*Identity, error) {
	id := &Identity{}
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrKeyFile, maxKeyFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFile)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case strings.Contains(line, "-ed25519-sec:"):
			if id.Signing != nil {
				return nil, fmt.Errorf("%w: line %d: a second signing key", ErrKeyFile, n)
			}
			k, err := ParseSigningKey(line)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrKeyFile, n, err)
			}
			id.Signing = k
		default:
			if id.Decryption != nil {
				return nil, fmt.Errorf("%w: line %d: a second decryption key", ErrKeyFile, n)
			}
			k, err := ParseDecryptionKey(line)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrKeyFile, n, err)
			}
			id.Decryption = k
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if id.Signing == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrKeyFile)
	}
	role := id.Signing.Role()
	if id.Decryption != nil && id.Decryption.Role() != role {
		return nil, fmt.Errorf("%w: decryption key of role %s beside a %s signing key", ErrKeyFile, id.Decryption.Role(), role)
	}
	if role.Receives() && id.Decryption == nil {
		return nil, fmt.Errorf("%w: a %s needs a decryption key", ErrKeyFile, role)
	}
	if !role.Receives() && id.Decryption != nil {
		return nil, fmt.Errorf("%w: a %s has no decryption key", ErrKeyFile, role)
	}
	return id, nil
}

// WriteFile writes the identity to a new file at path with mode 0600 and
// syncs it. It refuses to overwrite an existing file.
func WriteFile(path string, id *Identity) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrFileExists, path)
	}
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	_, err = f.Write(id.Marshal(time.Now()))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	return nil
}

// ReadFile reads a key file, refusing it if anyone but its owner may read or
// write it.
func ReadFile(path string) (*Identity, error) {
	// Check the type before opening: opening a named pipe would block.
	before, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if !st.Mode().IsRegular() || !os.SameFile(before, st) {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o; run chmod 600 %s", ErrInsecureFile, path, perm, path)
	}
	id, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

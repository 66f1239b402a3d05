package main

import (
	"fmt"
	"io"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
)

func runKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: keys needs a subcommand: gen or show", cli.ErrUsage)
	}
	switch args[0] {
	case "gen":
		return runKeysGen(args[1:], stdout, stderr)
	case "show":
		return runKeysShow(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown keys subcommand %q (want gen or show)", cli.ErrUsage, args[0])
}

func runKeysGen(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "keys gen", "keys gen --role ROLE --out FILE [--suite SUITE]", stderr)
	roleName := fs.String("role", "", "the actor's `role`: patient, provider, device, cloud or authority")
	out := fs.String("out", "", "the key `file` to create (it must not exist)")
	suiteName := fs.String("suite", identity.DefaultSuite.String(), "HPKE `suite` for patients and providers: mlkem768x25519 or x25519")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *roleName == "" || *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: keys gen needs --role and --out, and no other arguments", cli.ErrUsage)
	}
	role, err := identity.ParseRole(*roleName)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	suite, err := identity.ParseSuite(*suiteName)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	id, err := identity.Generate(role, suite)
	if err != nil {
		return err
	}
	if err := identity.WriteFile(*out, id); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s key file %s\n", role, *out)
	printPublic(stdout, id.Public())
	return nil
}

func runKeysShow(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "keys show", "keys show FILE", stderr)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: keys show needs exactly one key file", cli.ErrUsage)
	}
	id, err := identity.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	printPublic(stdout, id.Public())
	return nil
}

// printPublic prints an actor's public keys, never its secrets.
func printPublic(w io.Writer, p identity.Public) {
	fmt.Fprintf(w, "role: %s\n", p.Role)
	fmt.Fprintf(w, "id: %s\n", p.Verifying.ID().Hex())
	fmt.Fprintf(w, "signing key: %s\n", p.Verifying)
	if !p.Encryption.IsZero() {
		fmt.Fprintf(w, "encryption key: %s\n", p.Encryption)
	}
}

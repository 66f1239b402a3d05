// Package cli holds what VitalChain's commands share: flag sets that print
// a synopsis, the usage error, exit codes and the logger's level flag.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// ErrUsage reports a command line that could not be understood: the
// process exits 2.
var ErrUsage = errors.New("usage")

// ExitError carries the exit code of a failed command.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit %d", e.Code) }

// NewFlags returns a flag set for prog's command that prints its errors
// and usage ("Usage: prog synopsis" and the flags) to stderr, with
// --config (see Configure).
func NewFlags(prog, name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String(ConfigFlag, "", "read flags not given on the command line nor in "+EnvPrefix+"NAME variables from this `file` of name = value lines (default $"+EnvName(ConfigFlag)+")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s %s\n", prog, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// ParseFlags parses args, then takes the flags not given there from the
// environment and the configuration file (Configure); a flag error
// (already printed) becomes ExitError{2}, a configuration error wraps
// ErrConfig.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ExitError{Code: 2}
	}
	return Configure(fs, os.LookupEnv)
}

// NewLogger returns a text logger to w at the named level (debug, info,
// warn or error).
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: log level %q", ErrUsage, level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// Exit turns a command's error into the process's exit code, printing it
// to stderr as "prog: err" when there is something to say.
func Exit(prog string, err error, stderr io.Writer) int {
	var ee ExitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	case errors.As(err, &ee):
		return ee.Code
	default:
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
}

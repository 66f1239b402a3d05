package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

func TestExit(t *testing.T) {
	tests := []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{fmt.Errorf("%w: needs --key", ErrUsage), 2, "prog: usage: needs --key\n"},
		{ExitError{3}, 3, ""},
		{errors.New("disk full"), 1, "prog: disk full\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if got := Exit("prog", tc.err, &b); got != tc.code || b.String() != tc.stderr {
			t.Errorf("Exit(%v) = %d, %q; want %d, %q", tc.err, got, b.String(), tc.code, tc.stderr)
		}
	}
}

func TestFlags(t *testing.T) {
	var b bytes.Buffer
	fs := NewFlags("prog", "sub", "sub --x N", &b)
	fs.Int("x", 0, "a number")
	if err := ParseFlags(fs, []string{"--x", "nope"}); !errors.As(err, new(ExitError)) {
		t.Fatalf("bad flag: %v", err)
	}
	if !strings.Contains(b.String(), "Usage: prog sub --x N") {
		t.Fatalf("usage: %q", b.String())
	}
	if err := ParseFlags(NewFlags("prog", "sub", "", &b), []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if _, err := NewLogger(&b, "loud"); !errors.Is(err, ErrUsage) {
		t.Fatalf("bad level: %v", err)
	}
	if l, err := NewLogger(&b, "debug"); err != nil || l == nil {
		t.Fatal(err)
	}
}

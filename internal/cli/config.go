package cli

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Configuration. Every command takes each of its flags from, in this order
// of precedence:
//
//  1. the command line (--name value);
//  2. the environment: VITALCHAIN_NAME, the flag's name in upper case with
//     '-' as '_' (--log-level: VITALCHAIN_LOG_LEVEL); an empty variable is
//     unset;
//  3. a configuration file, --config FILE (or VITALCHAIN_CONFIG): lines of
//     "name = value" (a flag's name without dashes; the value bare or a
//     double-quoted Go string), '#' comments, and optional "[command]"
//     sections: a line before any section applies to every command that has
//     the flag, one in a section only to that command ("[cloud]",
//     "[gateway]", "[patient grant]"), where a name that is not one of the
//     command's flags is an error;
//  4. the flag's default.

// EnvPrefix starts the name of every environment variable of a flag.
const EnvPrefix = "VITALCHAIN_"

// ConfigFlag names the flag of the configuration file.
const ConfigFlag = "config"

// ErrConfig: a configuration file or an environment variable that could
// not be applied. It wraps ErrUsage (the process exits 2).
var ErrConfig = fmt.Errorf("%w: configuration", ErrUsage)

// EnvName returns the environment variable of the flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Configure gives fs's flags not set on the command line their values from
// the environment (looked up with env) or from the configuration file, as
// documented above. fs must have been parsed.
func Configure(fs *flag.FlagSet, env func(string) (string, bool)) error {
	lookup := func(name string) (string, bool) {
		v, ok := env(EnvName(name))
		return v, ok && v != ""
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var path string
	if f := fs.Lookup(ConfigFlag); f != nil {
		path = f.Value.String()
		if !set[ConfigFlag] {
			if v, ok := lookup(ConfigFlag); ok {
				path = v
			}
		}
	}
	var file map[string]setting
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if file, err = parseConfig(b, fs); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == ConfigFlag {
			return
		}
		if v, ok := lookup(f.Name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
			return
		}
		if s, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, s.value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s = %q: %w", path, s.line, f.Name, s.value, err))
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

// setting is a value of a configuration file and its line.
type setting struct {
	value string
	line  int
}

// parseConfig reads the settings of a configuration file that apply to
// fs's command.
func parseConfig(b []byte, fs *flag.FlagSet) (map[string]setting, error) {
	out := map[string]setting{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: a section is [command]", n)
			}
			section = strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			continue
		}
		if section != "" && section != fs.Name() {
			continue // another command's
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want name = value", n)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.HasPrefix(value, `"`) {
			v, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: a quoted value: %w", n, name, err)
			}
			value = v
		} else if i := strings.Index(value, " #"); i >= 0 {
			value = strings.TrimSpace(value[:i]) // a comment after a bare value
		}
		if fs.Lookup(name) == nil || name == ConfigFlag {
			if section == "" {
				continue // a flag of other commands
			}
			return nil, fmt.Errorf("line %d: %q is not a flag of %s", n, name, fs.Name())
		}
		if prev, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: %s set again (first at line %d)", n, name, prev.line)
		}
		out[name] = setting{value, n}
	}
	return out, sc.Err()
}

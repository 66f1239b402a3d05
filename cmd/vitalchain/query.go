package main

// vitalchain query PATH: a ledger query's answer, decoded, as JSON.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/ledger"
)

// queryTypes gives the answer's type of each query path, by its first
// element (ledger.Query's documentation); others decode as plain CBOR.
var queryTypes = map[string]func() any{
	"member":      func() any { return new(ledger.Member) },
	"seq":         func() any { return new(uint64) },
	"authorities": func() any { return new([]ledger.Authority) },
	"pending":     func() any { return new([]ledger.Change) },
	"cluster":     func() any { return new(ledger.ClusterInfo) },
	"params":      func() any { return new(ledger.Params) },
	"contract":    func() any { return new(ledger.ContractRecord) },
	"contracts":   func() any { return new([][32]byte) },
	"epoch":       func() any { return new(ledger.PatientState) },
	"envelope":    func() any { return new([]byte) },
	"grant":       func() any { return new(ledger.GrantRecord) },
	"grants":      func() any { return new([]ledger.GrantEntry) },
	"anchor":      func() any { return new(ledger.AnchorRecord) },
	"alert":       func() any { return new(ledger.AlertRecord) },
	"record3":     func() any { return new([]ledger.ProviderRecordListing) },
	"command":     func() any { return new(ledger.DeviceCommandRecord) },
	"absent":      func() any { return new(ledger.Absence) },
	"chain_id":    func() any { return new(string) },
}

func runQuery(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "query", "query PATH [--ledger URL]   (paths: go doc ./ledger Query; e.g. authorities, member/ID, cluster/1)", stderr)
	ledgerURL := fs.String("ledger", "http://127.0.0.1:26657", "RPC `URL` of a ledger node")
	trust := cli.AddTrust(fs)
	// The path may come before the flags.
	var path string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0)
	} else if path == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: query needs one PATH", cli.ErrUsage)
	}
	log, err := cli.NewLogger(stderr, "warn")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := trust.Ledger(*ledgerURL, log)
	if err != nil {
		return err
	}
	defer c.Close()
	var v any = new(any)
	first, _, _ := strings.Cut(strings.Trim(path, "/"), "/")
	if mk, ok := queryTypes[first]; ok {
		v = mk()
	}
	if err := c.Query(ctx, path, v); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonable(reflect.ValueOf(v)))
}

// jsonable turns a decoded answer into what reads well as JSON: bytes (IDs,
// keys, hashes) in hex, named numbers that have a name (roles, suites,
// kinds) by name, structs by their fields' names, map keys as text.
func jsonable(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	t := v.Type()
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return hex.EncodeToString(b)
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonable(v.Index(i))
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				out[f.Name] = jsonable(v.Field(i))
			}
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		it := v.MapRange()
		for it.Next() {
			out[fmt.Sprint(jsonable(it.Key()))] = jsonable(it.Value())
		}
		return out
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if s, ok := v.Interface().(fmt.Stringer); ok && t.PkgPath() != "" {
			return s.String()
		}
		return v.Interface()
	default:
		return v.Interface()
	}
}

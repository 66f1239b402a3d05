package codec_test

import (
	"bytes"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
)

// FuzzUnmarshal checks that Unmarshal never panics on untrusted bytes and
// that whatever it accepts is canonical: encoding the decoded value gives
// back the input exactly, so one value has one encoding and one hash.
func FuzzUnmarshal(f *testing.F) {
	for _, v := range []any{sample{}, fullSample(), opt{A: 1, C: "c"}, inner{}} {
		b, err := codec.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "00", "a0", "80", "f6", "a1 01 18 05", "a2 01 01 01 02", "a1 0b 00",
		"9f ff", "c1 00", "a2 02 00 01 00", "fb 3ff8000000000000", "a1 08 a1 61 61 00",
		"a1 09 a2 01 01 02 61 62", "a1 0a 82 a0 a1 01 01", "a1 20 f5",
	} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sample
		if err := codec.Unmarshal(data, &s); err == nil {
			again, err := codec.Marshal(s)
			if err != nil {
				t.Fatalf("Marshal of a decoded value: %v", err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("accepted a non-canonical encoding:\n  in %x\n out %x", data, again)
			}
		}
		var v any
		if err := codec.Unmarshal(data, &v); err == nil {
			again, err := codec.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal of a decoded value: %v", err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("accepted a non-canonical encoding into any:\n  in %x\n out %x", data, again)
			}
		}
	})
}

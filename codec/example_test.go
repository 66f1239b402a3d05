package codec_test

import (
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
)

func Example() {
	type point struct {
		Version uint8 `cbor:"1,keyasint"`
		X       int64 `cbor:"2,keyasint"`
		Y       int64 `cbor:"3,keyasint"`
	}
	b, err := codec.Marshal(point{Version: 1, X: 10, Y: -2})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", b)

	var p point
	if err := codec.Unmarshal(b, &p); err != nil {
		panic(err)
	}
	fmt.Println(p.X, p.Y, codec.CheckVersion("point", p.Version, 1))

	// The same value with X's 10 written in two bytes is refused.
	err = codec.Unmarshal([]byte{0xa3, 0x01, 0x01, 0x02, 0x18, 0x0a, 0x03, 0x21}, &p)
	fmt.Println(errors.Is(err, codec.ErrNotCanonical))
	// Output:
	// a30101020a0321
	// 10 -2 <nil>
	// true
}

package chain_test

import (
	"encoding/json"

	"github.com/vitalchain/vitalchain/codec"
)

func codecMarshal(v any) ([]byte, error) { return codec.Marshal(v) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

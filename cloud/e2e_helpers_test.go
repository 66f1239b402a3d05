package cloud_test

import "github.com/vitalchain/vitalchain/codec"

func codecMarshal(v any) ([]byte, error) { return codec.Marshal(v) }

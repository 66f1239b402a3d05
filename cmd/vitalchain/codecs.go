package main

import (
	"bytes"
	"io"

	"github.com/vitalchain/vitalchain/codec"
)

func codecMarshal(v any) ([]byte, error) { return codec.Marshal(v) }

func codecUnmarshal(b []byte, v any) error { return codec.UnmarshalLimit(b, 64<<20, v) }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

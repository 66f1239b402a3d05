//go:build !linux

package faults

import (
	"context"
	"fmt"
	"runtime"
)

// Run needs Linux's network namespaces.
func Run(ctx context.Context, o Options) (*Result, error) {
	return nil, fmt.Errorf("%w: this is %s", ErrPrivilege, runtime.GOOS)
}

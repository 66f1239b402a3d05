package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// OnHangup calls f at each SIGHUP until ctx ends (a portal prints a new
// login link).
func OnHangup(ctx context.Context, f func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				f()
			}
		}
	}()
}

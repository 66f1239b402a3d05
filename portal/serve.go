package portal

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve serves a portal's handler on ln until ctx ends (over TLS if
// certFile is set), with the bounds of every server of ours: timeouts on
// headers, reads, writes (a live stream lifts its own) and idle
// connections, and 64 KiB of headers. Requests live in ctx, so that its end
// ends the live streams and the shutdown does not wait for them.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: h, BaseContext: func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

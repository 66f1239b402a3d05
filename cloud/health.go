package cloud

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoSequencer: a process sharing its store knows of no sequencer, so
// that it can neither sequence writes nor send them to the one that does.
var ErrNoSequencer = errors.New("no sequencer known")

// Ready reports whether the service can do its job now: its store answers
// (the size of its records log is read), and, with a Lease, it sequences or
// knows the process that does. It is the cloud's /readyz.
func (s *Service) Ready(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		_, err := s.cfg.Store.Size(LogRecords)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("store: %w", ctx.Err())
	}
	if s.cfg.Lease != nil && !s.Sequencing() && s.Leader() == "" {
		return ErrNoSequencer
	}
	return nil
}

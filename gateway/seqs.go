package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vitalchain/vitalchain/codec"
)

// seqFile holds the devices' last sequence numbers.
const seqFile = "devices.cbor"

func (g *Gateway) loadSeqs() error {
	b, err := os.ReadFile(filepath.Join(g.cfg.Dir, seqFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := codec.UnmarshalTrusted(b, &g.seqs); err != nil {
		return fmt.Errorf("%s: %w", seqFile, err)
	}
	return nil
}

func (g *Gateway) saveSeqs() error {
	g.mu.Lock()
	if !g.seqsDirty {
		g.mu.Unlock()
		return nil
	}
	b, err := codec.Marshal(g.seqs)
	g.seqsDirty = false
	g.mu.Unlock()
	if err != nil {
		return err
	}
	p := filepath.Join(g.cfg.Dir, seqFile)
	f, err := os.CreateTemp(g.cfg.Dir, seqFile+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (g *Gateway) saveLoop(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.saveSeqs(); err != nil {
				g.log.Warn("saving sequence numbers", "err", err)
			}
		}
	}
}

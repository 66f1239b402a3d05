package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/outbox"
)

// The devices' last sequence numbers are kept as marks of the outbox
// ("seq/" and the device's ID), in its database: an abnormal reading's
// number in the same transaction as its records (so that, replayed after a
// restart, it is refused), a normal one's every second and at Close (a
// normal reading replayed after a crash is judged again, and stored
// nowhere).
const seqMark = "seq/"

func seqMarkOf(dev identity.ID, seq uint64) outbox.Mark {
	return outbox.Mark{Key: seqMark + dev.Hex(), Value: binary.BigEndian.AppendUint64(nil, seq)}
}

// oldSeqFile held the devices' last sequence numbers in earlier versions.
const oldSeqFile = "devices.cbor"

// loadSeqs reads the devices' last sequence numbers from the outbox, and
// moves an earlier version's file into it.
func (g *Gateway) loadSeqs() error {
	marks, err := g.box.Marks(seqMark)
	if err != nil {
		return err
	}
	for k, v := range marks {
		id, err := identity.ParseID(k[len(seqMark):])
		if err != nil || len(v) != 8 {
			return fmt.Errorf("%w: sequence mark %q", outbox.ErrCorrupt, k)
		}
		g.seqs[id] = binary.BigEndian.Uint64(v)
	}
	old := filepath.Join(g.cfg.Dir, oldSeqFile)
	b, err := os.ReadFile(old)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var seqs map[identity.ID]uint64
	if err := codec.UnmarshalTrusted(b, &seqs); err != nil {
		return fmt.Errorf("%s: %w", oldSeqFile, err)
	}
	var ms []outbox.Mark
	for id, s := range seqs {
		if s > g.seqs[id] {
			g.seqs[id] = s
			ms = append(ms, seqMarkOf(id, s))
		}
	}
	if err := g.box.SetMarks(ms...); err != nil {
		return err
	}
	return os.Remove(old)
}

// saveSeqs writes the sequence numbers taken since the last save.
func (g *Gateway) saveSeqs() error {
	g.mu.Lock()
	ms := make([]outbox.Mark, 0, len(g.dirty))
	for id := range g.dirty {
		ms = append(ms, seqMarkOf(id, g.seqs[id]))
	}
	clear(g.dirty)
	g.mu.Unlock()
	return g.box.SetMarks(ms...)
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

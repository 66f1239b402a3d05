package udp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrCounterFile is a counter file that cannot be read or written. A node
// whose counter file is unreadable does not start its overlay: guessing a
// counter could reuse one.
var ErrCounterFile = errors.New("overlay counter file")

// Counter hands out the counters of the datagrams a node signs, and the
// incarnations of its overlay node, strictly increasing across restarts
// (crashes included): never one twice.
//
// It keeps in a file the highest counter it may have handed out, reserving
// CounterBlock counters at a time, so that it writes (and fsyncs) once a
// block rather than once a datagram; a restart resumes after the reserved
// block, so that the counters it had not used yet are skipped, never
// reused. A block is reserved in the background once half of the current
// one is used, so that Next rarely waits for the disk. A counter is never
// lower than the wall clock's seconds times 2^20 at Open, nor an
// incarnation than its seconds, so that a node whose file was lost still
// starts above the counters it used before (unless its clock went back or
// it sent over a million datagrams a second) and, once its clock has
// passed the last incarnation (restarts in the same second each take the
// next one), above its incarnations. One file belongs to one running node.
type Counter struct {
	path  string
	block uint64
	now   func() time.Time

	fileMu sync.Mutex // serialises writes of the file, taken before mu

	mu        sync.Mutex
	next      uint64 // the next counter to hand out
	reserved  uint64 // the highest counter on disk as reserved
	inc       uint32 // the last incarnation handed out (on disk)
	extending bool   // a background reservation is under way
	closed    bool   // Close was called: no more counters
	err       error  // of the last background reservation
	bg        sync.WaitGroup
}

// CounterBlock is how many counters a Counter reserves with one write.
const CounterBlock = 4096

// clockShift places Open's floor of the counters: the wall clock's seconds
// shifted by clockShift bits.
const clockShift = 20

// OpenCounter opens the counter file at path, creating it (and its
// directory) if it does not exist, and reserves a first block.
func OpenCounter(path string) (*Counter, error) {
	return openCounter(path, CounterBlock, time.Now)
}

func openCounter(path string, block uint64, now func() time.Time) (*Counter, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no path", ErrCounterFile)
	}
	reserved, inc, err := readCounter(path)
	if err != nil {
		return nil, err
	}
	c := &Counter{path: path, block: block, now: now, inc: inc}
	start := max(reserved, uint64(max(now().Unix(), 0))<<clockShift)
	c.next = start + 1
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCounterFile, err)
	}
	if err := c.write(start+block, inc); err != nil {
		return nil, err
	}
	c.reserved = start + block
	return c, nil
}

// readCounter reads a counter file: "v1 RESERVED INCARNATION\n"; a file
// that does not exist reads as zeros.
func readCounter(path string) (reserved uint64, inc uint32, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrCounterFile, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 3 || f[0] != "v1" || !strings.HasSuffix(string(b), "\n") {
		return 0, 0, fmt.Errorf("%w: %s: not a counter file (want \"v1 RESERVED INCARNATION\")", ErrCounterFile, path)
	}
	r, err1 := strconv.ParseUint(f[1], 10, 64)
	i, err2 := strconv.ParseUint(f[2], 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %w", ErrCounterFile, path, err)
	}
	return r, uint32(i), nil
}

// write replaces the file with (reserved, inc), durably: a temporary file,
// fsync, rename, fsync of the directory. c.fileMu is held, or c is not
// shared yet.
func (c *Counter) write(reserved uint64, inc uint32) error {
	tmp := c.path + ".tmp"
	err := func() error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "v1 %d %d\n", reserved, inc)
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	}()
	if err == nil {
		err = os.Rename(tmp, c.path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(filepath.Dir(c.path)); err == nil {
			err = errors.Join(d.Sync(), d.Close())
		}
	}
	if err != nil {
		return fmt.Errorf("%w: write %s: %w", ErrCounterFile, c.path, err)
	}
	return nil
}

// Next returns the next counter. It waits for the disk only when the
// reserved block is used up before the background reservation of the next
// one has ended; if the reservation fails, it returns the error and no
// counter.
func (c *Counter) Next() (uint64, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, fmt.Errorf("%w: %s: closed", ErrCounterFile, c.path)
	}
	for c.next > c.reserved {
		c.mu.Unlock()
		err := c.reserve()
		c.mu.Lock()
		if err != nil && c.next > c.reserved {
			c.mu.Unlock()
			return 0, err
		}
	}
	n := c.next
	c.next++
	if !c.extending && c.reserved-n < c.block/2 {
		c.extending = true
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			err := c.reserve()
			c.mu.Lock()
			c.extending, c.err = false, err
			c.mu.Unlock()
		}()
	}
	c.mu.Unlock()
	return n, nil
}

// reserve writes a new block's reservation: a block beyond the counters
// handed out or reserved.
func (c *Counter) reserve() error {
	c.fileMu.Lock()
	defer c.fileMu.Unlock()
	c.mu.Lock()
	target, inc := max(c.reserved, c.next-1)+c.block, c.inc
	c.mu.Unlock()
	if err := c.write(target, inc); err != nil {
		return err
	}
	c.mu.Lock()
	c.reserved = max(c.reserved, target)
	c.mu.Unlock()
	return nil
}

// Incarnation returns a new incarnation for the overlay node
// (overlay.Config.Incarnation): higher than every one handed out before
// from this file, and than the one before it in this process; the wall
// clock's seconds when they are higher still. It writes the file.
func (c *Counter) Incarnation() (uint32, error) {
	c.fileMu.Lock()
	defer c.fileMu.Unlock()
	c.mu.Lock()
	reserved, inc := c.reserved, c.inc
	c.mu.Unlock()
	if inc == ^uint32(0) {
		return 0, fmt.Errorf("%w: %s: incarnations used up", ErrCounterFile, c.path)
	}
	inc = max(inc+1, uint32(min(max(c.now().Unix(), 0), int64(^uint32(0)-1))))
	if err := c.write(reserved, inc); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.inc = inc
	c.mu.Unlock()
	return inc, nil
}

// Close ends the counter: Next hands out no more, and Close waits for a
// background reservation under way. The counters reserved and not used
// are skipped by the next Open.
func (c *Counter) Close() error {
	c.mu.Lock()
	c.closed = true // no background reservation starts after this
	c.mu.Unlock()
	c.bg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

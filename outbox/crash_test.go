package outbox

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	crashEnv     = "OUTBOX_CRASH_CHILD_DIR"
	crashStreams = 4
)

// TestCrash re-executes the test binary as a child that puts items from
// several goroutines and acks the oldest ones, reporting every Put and Ack
// that returned, until it is killed with SIGKILL; the reopened outbox must
// hold every item whose Put returned and whose Ack had not begun, none whose
// Ack returned, each at most once and in order.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for round := range 2 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
			cmd.Env = append(os.Environ(), crashEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var (
				lines  []string
				puts   int
				killed bool
			)
			// Kill after a few hundred Puts, at a point that varies.
			killAt := 200 + rand.IntN(200)
			timeout := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			defer timeout.Stop()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if strings.HasPrefix(sc.Text(), "p ") {
					puts++
				}
				if puts >= killAt && !killed {
					cmd.Process.Kill() // SIGKILL
					killed = true
				}
			}
			cmd.Wait()
			if !killed {
				t.Fatalf("the child stopped before it was killed, after %d Puts", puts)
			}
			checkAfterCrash(t, dir, lines, Options{})
		})
	}
}

// crashChild is the child of TestCrash. It never returns.
func crashChild(dir string) {
	o, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	report := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, format, args...) // unbuffered: in the pipe once it returns
		mu.Unlock()
	}
	runCrashWorkload(o, report, nil)
	select {}
}

// runCrashWorkload puts items from crashStreams goroutines, in batches of
// one to four, and acks the oldest items from another, reporting "p s i"
// after each Put of item (s, i) returned, "x s i" before acking it and "a s
// i" after. It stops when stop is closed (never if nil).
func runCrashWorkload(o *Outbox, report func(string, ...any), stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for s := range crashStreams {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(s), 1))
			for i := 0; !stopped(); {
				n := 1 + r.IntN(4)
				if err := o.Put(items(s, i, n)...); err != nil {
					report("e %v\n", err)
					return
				}
				for j := range n {
					report("p %d %d\n", s, i+j)
				}
				i += n
			}
		})
	}
	wg.Go(func() {
		for !stopped() {
			its, err := o.Peek(8)
			if err != nil {
				report("e %v\n", err)
				return
			}
			if len(its) == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			for _, it := range its {
				s, i := streamOf(it.ID)
				report("x %d %d\n", s, i)
			}
			if err := o.Ack(ids(its)...); err != nil {
				report("e %v\n", err)
				return
			}
			for _, it := range its {
				s, i := streamOf(it.ID)
				report("a %d %d\n", s, i)
			}
		}
	})
	return &wg
}

// checkAfterCrash opens the outbox in dir and checks it against the lines
// runCrashWorkload reported before the crash.
func checkAfterCrash(t *testing.T, dir string, lines []string, opts Options) {
	t.Helper()
	type key struct{ s, i int }
	put, acking, acked := map[key]bool{}, map[key]bool{}, map[key]bool{}
	maxPut := make([]int, crashStreams)
	for s := range maxPut {
		maxPut[s] = -1
	}
	for _, l := range lines {
		var op string
		var k key
		if n, _ := fmt.Sscanf(l, "%s %d %d", &op, &k.s, &k.i); n != 3 {
			if strings.HasPrefix(l, "e ") {
				t.Fatalf("the child failed: %s", l)
			}
			continue
		}
		switch op {
		case "p":
			put[k] = true
			maxPut[k.s] = max(maxPut[k.s], k.i)
		case "x":
			acking[k] = true
		case "a":
			acked[k] = true
		}
	}
	o := open(t, dir, opts)
	got := all(t, o)
	present := map[key]bool{}
	last := make([]int, crashStreams)
	for s := range last {
		last[s] = -1
	}
	for _, it := range got {
		s, i := streamOf(it.ID)
		k := key{s, i}
		if present[k] {
			t.Fatalf("item %v is in the outbox twice", k)
		}
		present[k] = true
		if i <= last[s] {
			t.Fatalf("item %v comes after item %d of its stream", k, last[s])
		}
		last[s] = i
		if acked[k] {
			t.Errorf("item %v is back after its Ack returned", k)
		}
		if i > maxPut[s]+4 {
			t.Errorf("item %v is present, but no Put of it began", k)
		}
		if string(it.Data) != string(item(s, i).Data) {
			t.Errorf("item %v holds %q", k, it.Data)
		}
	}
	lost := 0
	for k := range put {
		if !acking[k] && !present[k] {
			lost++
			t.Errorf("item %v was put and never acked, but is gone", k)
		}
	}
	if lost > 0 || t.Failed() {
		t.FailNow()
	}
	t.Logf("%d Puts and %d Acks returned before the crash; %d items pending after it", len(put), len(acked), len(got))
	// The outbox still works, and new items come last.
	mustPut(t, o, item(99, 0))
	if got := all(t, o); got[len(got)-1].ID != item(99, 0).ID {
		t.Fatal("an item put after the crash is not last")
	}
}

// TestPowerLoss runs the same workload and cuts the power in the middle of
// one of its commits: every Put and Ack that returned before the cut must
// be there after it.
//
// Every commit of bbolt writes the changed pages to places that the last
// committed state does not use, fsyncs, then writes one of the two meta
// pages (the root of the new state, with a checksum) and fsyncs again; and
// the outbox commits one transaction at a time. So the file after a power
// cut is the file before the commit in flight plus some of its writes: any
// part of the data pages (cut before the first fsync), or all of them and
// part of the meta page (cut before the second), or all of them (cut
// before the commit returned). The test copies the file before and after
// one commit and makes such a file.
func TestPowerLoss(t *testing.T) {
	const chunk = 512 // a disk sector: what a power cut may tear apart
	for seed := range 6 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, fileName)
			o, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var lines []string
			var puts atomic.Int64
			report := func(format string, args ...any) {
				mu.Lock()
				lines = append(lines, fmt.Sprintf(format, args...))
				mu.Unlock()
				if strings.HasPrefix(format, "p ") {
					puts.Add(1)
				}
			}
			// The hook runs in the committer: no commit is in flight but
			// this one, and every earlier one is synced.
			var (
				cut            atomic.Bool
				cutDone        = make(chan struct{})
				before         []string
				before0, after []byte
				cutErr         error
			)
			commit := o.commit
			o.commit = func(tx *bolt.Tx) error {
				if !cut.Load() || before0 != nil || cutErr != nil {
					return commit(tx)
				}
				// What returned before the cut must survive it.
				mu.Lock()
				before = append([]string(nil), lines...)
				mu.Unlock()
				if before0, cutErr = os.ReadFile(path); cutErr != nil {
					close(cutDone)
					return commit(tx)
				}
				err := commit(tx)
				after, cutErr = os.ReadFile(path)
				close(cutDone)
				return err
			}
			stop := make(chan struct{})
			wg := runCrashWorkload(o, report, stop)
			for puts.Load() < int64(150+50*(seed%3)) {
				time.Sleep(time.Millisecond)
			}
			cut.Store(true)
			<-cutDone
			// Acks begun before the end of the cut may have happened.
			mu.Lock()
			for _, l := range lines[len(before):] {
				if strings.HasPrefix(l, "x ") {
					before = append(before, l)
				}
			}
			mu.Unlock()
			close(stop)
			wg.Wait()
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if cutErr != nil {
				t.Fatal(cutErr)
			}

			r := rand.New(rand.NewPCG(uint64(seed), 2))
			crashed := make([]byte, max(len(before0), len(after))) // a grown file was synced grown
			copy(crashed, before0)
			pageSize := os.Getpagesize()
			var data, meta []int // the chunks the commit changed
			for off := 0; off < len(after); off += chunk {
				end := min(off+chunk, len(after))
				if off < len(before0) && string(before0[off:min(end, len(before0))]) == string(after[off:end]) {
					continue
				}
				if off < 2*pageSize {
					meta = append(meta, off)
				} else {
					data = append(data, off)
				}
			}
			if len(meta) == 0 || len(data) == 0 {
				t.Fatalf("the commit changed %d chunks of meta pages and %d of data pages", len(meta), len(data))
			}
			write := func(off, end int) { copy(crashed[off:end], after[off:end]) }
			switch stage := seed % 3; stage {
			case 0: // before the first fsync: some of the data
				for _, off := range data {
					if r.IntN(2) == 0 {
						write(off, min(off+chunk, len(after)))
					}
				}
			case 1: // before the second: the data, and a torn meta page
				for _, off := range data {
					write(off, min(off+chunk, len(after)))
				}
				off := meta[0]
				write(off, off+1+r.IntN(80)) // the meta's 80 bytes start its page
			case 2: // all of it
				copy(crashed, after)
			}
			t.Logf("cut with %d of %d bytes changed by the commit in flight, stage %d", len(data)*chunk, len(after), seed%3)
			cdir := t.TempDir()
			if err := os.WriteFile(filepath.Join(cdir, fileName), crashed, 0o600); err != nil {
				t.Fatal(err)
			}
			checkAfterCrash(t, cdir, before, Options{})
		})
	}
}

// Package usage measures what the parts of a running system use: CPU
// seconds per component of one process (from a CPU profile whose samples
// carry a "component" label, see Label), a process's memory, open files and
// CPU time (from /proc), a directory's bytes on disk, and the slope of a
// series over time (Slope), for the benchmarks' units and the soak.
package usage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"

	"github.com/google/pprof/profile"
)

// LabelKey is the profiler label that names a component.
const LabelKey = "component"

// Unlabelled is the component of the samples without a label: the Go
// runtime's own work (garbage collection, the scheduler) and goroutines
// started outside every labelled part.
const Unlabelled = "unlabelled"

// Label makes the calling goroutine, and every goroutine it starts from
// now on, count its CPU time for component; the returned func restores the
// goroutine's labels before the call.
func Label(ctx context.Context, component string) (restore func()) {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels(LabelKey, component)))
	return func() { pprof.SetGoroutineLabels(ctx) }
}

// ErrProfiling is returned by StartProfile while another CPU profile runs
// in this process.
var ErrProfiling = errors.New("a CPU profile already runs")

// Profile is a CPU profile being taken.
type Profile struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

// StartProfile starts profiling this process's CPU.
func StartProfile() (*Profile, error) {
	p := &Profile{}
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProfiling, err)
	}
	return p, nil
}

// Stop ends the profile and returns its bytes (the pprof format; the
// component labels are in it, for `go tool pprof -tagfocus`).
func (p *Profile) Stop() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		pprof.StopCPUProfile()
		p.done = true
	}
	return p.buf.Bytes()
}

// CPU is the CPU time of a profile by component.
type CPU struct {
	// WallS is the profile's duration, in seconds.
	WallS float64 `json:"wall_s"`
	// TotalS is the CPU seconds of every sample.
	TotalS float64 `json:"total_cpu_s"`
	// ByComponent is the CPU seconds of each component's samples, the
	// unlabelled ones under Unlabelled.
	ByComponent map[string]float64 `json:"cpu_s_by_component"`
}

// Share returns a component's CPU seconds with the unlabelled ones shared
// among the components in proportion to their own (the runtime's garbage
// collection and scheduling work for all of them).
func (c CPU) Share(component string) float64 {
	labelled := c.TotalS - c.ByComponent[Unlabelled]
	if labelled <= 0 {
		return 0
	}
	return c.ByComponent[component] * c.TotalS / labelled
}

// ComponentCPU reads a CPU profile (the bytes of Profile.Stop or a file of
// `go test -cpuprofile`) and sums its samples by component.
func ComponentCPU(data []byte) (CPU, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return CPU{}, fmt.Errorf("cpu profile: %w", err)
	}
	vi := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			vi = i
		}
	}
	if vi < 0 {
		return CPU{}, errors.New("cpu profile: no cpu/nanoseconds sample type")
	}
	c := CPU{WallS: float64(p.DurationNanos) / 1e9, ByComponent: map[string]float64{}}
	for _, s := range p.Sample {
		v := float64(s.Value[vi]) / 1e9
		name := Unlabelled
		if l := s.Label[LabelKey]; len(l) > 0 {
			name = l[0]
		}
		c.ByComponent[name] += v
		c.TotalS += v
	}
	return c, nil
}

// Proc is what /proc tells of a process.
type Proc struct {
	RSSMB     float64 `json:"rss_mb"`
	AnonMB    float64 `json:"rss_anon_mb"` // its own memory, not the binary's shared pages
	PeakRSSMB float64 `json:"peak_rss_mb"`
	OpenFiles int     `json:"open_files"`
	CPUS      float64 `json:"cpu_s"` // user and system time since it started
}

// clockTicks is USER_HZ, 100 on every Linux the project runs on.
const clockTicks = 100

// ReadProc reads process pid's memory, open files and CPU time (Linux).
func ReadProc(pid int) (Proc, error) {
	var p Proc
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			p.RSSMB = kb / 1024
		case "RssAnon:":
			p.AnonMB = kb / 1024
		case "VmHWM:":
			p.PeakRSSMB = kb / 1024
		}
	}
	if p.CPUS, err = procCPU(pid); err != nil {
		return p, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	p.OpenFiles = len(fds)
	return p, nil
}

// procCPU returns the user and system CPU seconds of process pid.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line; the command name, field 2, may hold spaces and
// parentheses, so the fields are counted after its last ')'.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14, f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("proc stat: %w", err)
	}
	return float64(ut+st) / clockTicks, nil
}

// DirBytes returns the bytes of the regular files under dir (0 if it does
// not exist); files that vanish while it walks are skipped.
func DirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Slope returns the least-squares slope of ys over xs (units of y per
// unit of x), and false when xs has fewer than two distinct values.
func Slope(xs, ys []float64) (float64, bool) {
	n := float64(min(len(xs), len(ys)))
	if n < 2 {
		return 0, false
	}
	var sx, sy, sxx, sxy float64
	for i := range int(n) {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0, false
	}
	return (n*sxy - sx*sy) / d, true
}

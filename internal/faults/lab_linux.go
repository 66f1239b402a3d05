//go:build linux

package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The lab: each node in a network namespace of its own with two veth
// pairs to the host, one for its data (P2P and overlay traffic, on bridge
// vcf-data) and one for its management (its RPC, which the suite and the
// load use, on bridge vcf-mgmt). A cut moves a node's data veth onto
// vcf-cut, a bridge with nothing else on it (or only the other side of a
// partition): both directions stop, and TCP connections stay half open, as
// when a real link fails. Every name starts with prefix, so that a run can
// sweep what a killed run left.
//
// The addresses are in 198.18.0.0/15, the range set aside for benchmarking
// network equipment (RFC 2544): no real host is there, and the traffic
// never leaves the host's bridges.
const (
	prefix     = "vcf-"
	dataBridge = prefix + "data"
	mgmtBridge = prefix + "mgmt"
	cutBridge  = prefix + "cut"
	hostDataIP = "198.18.1.1"
	hostMgmtIP = "198.18.2.1"
	// The namespace-side interfaces' names.
	nsData = "data"
	nsMgmt = "mgmt"
)

func nsName(i int) string   { return prefix + "n" + strconv.Itoa(i) }
func dataVeth(i int) string { return prefix + "d" + strconv.Itoa(i) }
func mgmtVeth(i int) string { return prefix + "m" + strconv.Itoa(i) }
func dataIP(i int) string   { return "198.18.1." + strconv.Itoa(10+i) }
func mgmtIP(i int) string   { return "198.18.2." + strconv.Itoa(10+i) }

// lab is the namespaces, bridges and veths of one scenario.
type lab struct {
	n     int
	netem bool // the kernel has netem: impairments are applied with tc
	log   *slog.Logger
}

// ip runs the ip command.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// checkPrivilege fails with ErrPrivilege unless this process may make
// network namespaces.
func checkPrivilege() error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("%w: running as uid %d, not root", ErrPrivilege, uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: iproute2's ip command is not on the PATH", ErrPrivilege)
	}
	return nil
}

// lockPath is the file whose flock serialises fault suites on a host:
// they share the names and addresses of their labs.
var lockPath = filepath.Join(os.TempDir(), "vitalchain-faults.lock")

// acquire takes the host's fault-suite lock, waiting for another suite to
// finish; the lock goes with the process, however it ends.
func acquire(ctx context.Context, say func(string, ...any)) (release func(), err error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fault suite lock: %w", err)
	}
	for waited := false; ; waited = true {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("fault suite lock: %w", err)
		}
		if !waited {
			say("another fault suite is running on this host; waiting for it…")
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond): // poll the lock
		}
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// sweep removes what an earlier suite left behind: the processes in its
// namespaces, the namespaces, its links and its working directories. It
// runs under the host's lock, so nothing it finds belongs to a live suite.
func sweep(ctx context.Context, log *slog.Logger) {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		pids, _ := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
		for _, p := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				log.Info("sweep: killing a leftover process", "pid", pid, "netns", name)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		log.Info("sweep: deleting a leftover namespace", "netns", name)
		ip(ctx, "netns", "del", name)
	}
	out, _ = exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // "12: vcf-d0@if11: <…>"
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, prefix) {
			log.Info("sweep: deleting a leftover link", "link", name)
			ip(ctx, "link", "del", name)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), workPrefix+"*"))
	for _, d := range dirs {
		log.Info("sweep: removing a leftover directory", "dir", d)
		os.RemoveAll(d)
	}
}

// openLab makes the bridges and n nodes' namespaces.
func openLab(ctx context.Context, n int, log *slog.Logger) (_ *lab, err error) {
	l := &lab{n: n, log: log}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	for _, b := range []struct{ name, addr string }{{dataBridge, hostDataIP}, {mgmtBridge, hostMgmtIP}, {cutBridge, ""}} {
		if err := ip(ctx, "link", "add", b.name, "type", "bridge"); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPrivilege, err)
		}
		if b.addr != "" {
			if err := ip(ctx, "addr", "add", b.addr+"/24", "dev", b.name); err != nil {
				return nil, err
			}
		}
		if err := ip(ctx, "link", "set", b.name, "up"); err != nil {
			return nil, err
		}
	}
	for i := range n {
		ns := nsName(i)
		if err := ip(ctx, "netns", "add", ns); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPrivilege, err)
		}
		steps := [][]string{
			{"link", "add", dataVeth(i), "type", "veth", "peer", "name", nsData, "netns", ns},
			{"link", "add", mgmtVeth(i), "type", "veth", "peer", "name", nsMgmt, "netns", ns},
			{"link", "set", dataVeth(i), "master", dataBridge, "up"},
			{"link", "set", mgmtVeth(i), "master", mgmtBridge, "up"},
			{"-n", ns, "addr", "add", dataIP(i) + "/24", "dev", nsData},
			{"-n", ns, "addr", "add", mgmtIP(i) + "/24", "dev", nsMgmt},
			{"-n", ns, "link", "set", nsData, "up"},
			{"-n", ns, "link", "set", nsMgmt, "up"},
			{"-n", ns, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := ip(ctx, s...); err != nil {
				return nil, err
			}
		}
	}
	l.netem = hasNetem(ctx)
	return l, nil
}

// hasNetem reports whether the kernel has the netem qdisc (and tc is here):
// where it has, impairments are applied in the kernel, per packet.
func hasNetem(ctx context.Context) bool {
	if _, err := exec.LookPath("tc"); err != nil {
		return false
	}
	if exec.CommandContext(ctx, "ip", "netns", "exec", nsName(0), "tc", "qdisc", "add", "dev", nsData, "root", "netem", "delay", "1ms").Run() != nil {
		return false
	}
	exec.CommandContext(ctx, "ip", "netns", "exec", nsName(0), "tc", "qdisc", "del", "dev", nsData, "root").Run()
	return true
}

// netemArgs are the tc arguments that apply im to a node's data link.
func netemArgs(im Impairment) []string {
	args := []string{"qdisc", "replace", "dev", nsData, "root", "netem"}
	if im.Delay > 0 || im.Jitter > 0 {
		args = append(args, "delay", ms(im.Delay))
		if im.Jitter > 0 {
			args = append(args, ms(im.Jitter), "distribution", "normal")
		}
	}
	if im.Loss > 0 {
		args = append(args, "loss", strconv.FormatFloat(100*im.Loss, 'f', -1, 64)+"%")
	}
	if im.Rate > 0 {
		args = append(args, "rate", strconv.FormatInt(im.Rate*8, 10)+"bit")
	}
	return args
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// netemSet applies im to node i's outgoing data traffic (nothing: clears it).
func (l *lab) netemSet(ctx context.Context, i int, im Impairment) error {
	args := netemArgs(im)
	if im == (Impairment{}) {
		args = []string{"qdisc", "del", "dev", nsData, "root"}
	}
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", nsName(i), "tc"}, args...)...).CombinedOutput()
	if err != nil && im != (Impairment{}) {
		return fmt.Errorf("tc %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// cut moves node i's data link onto the cut bridge; join moves it back.
func (l *lab) cut(ctx context.Context, i int) error {
	return ip(ctx, "link", "set", dataVeth(i), "master", cutBridge)
}

func (l *lab) join(ctx context.Context, i int) error {
	return ip(ctx, "link", "set", dataVeth(i), "master", dataBridge)
}

// close deletes the veths, the namespaces and the bridges. (A namespace
// is destroyed in the background once deleted, its veths with it: deleting
// them first frees their names at once for the next lab.)
func (l *lab) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range l.n {
		ip(ctx, "link", "del", dataVeth(i))
		ip(ctx, "link", "del", mgmtVeth(i))
		ip(ctx, "netns", "del", nsName(i))
	}
	for _, b := range []string{dataBridge, mgmtBridge, cutBridge} {
		ip(ctx, "link", "del", b)
	}
}

// inNS runs f on a thread in node i's namespace: the sockets f opens stay
// in it.
func inNS(i int, f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + nsName(i))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", nsName(i), err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, and ends with this goroutine.
		return fmt.Errorf("leave %s: %w", nsName(i), err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// nodeCommand returns the command that runs the vitalchain binary bin with
// args in node i's namespace. The process dies with this one's thread
// (Pdeathsig), and is in a process group of its own.
func nodeCommand(bin string, i int, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", nsName(i), bin}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

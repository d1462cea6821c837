package oci

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// TestProcessGetsOnlyItsDescriptors leaves a descriptor open without
// close-on-exec in the caller, as a careless parent of crisp might: neither
// the container's process nor its monitor may inherit it, while the files
// of ExtraFiles reach the process at 3 and up.
func TestProcessGetsOnlyItsDescriptors(t *testing.T) {
	// High, so that the child's own descriptors cannot cover it.
	const leaked = 200
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Dup3(null, leaked, 0) // no O_CLOEXEC
	unix.Close(null)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leaked)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := testSpec(t, "sh", "-c", "echo through-fd-3 >&3; ls /proc/self/fd")
	out := newOutputPipe(t)
	opts := CreateOptions{Stdout: out.w, Stderr: out.w, ExtraFiles: []*os.File{w}}
	if err := rt.Create(ctx, "fds", writeBundle(t, spec), opts); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := rt.Start(ctx, "fds"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "fds"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Delete(ctx, "fds", false); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := r.Read(buf)
	if got := strings.TrimSpace(string(buf[:n])); got != "through-fd-3" {
		t.Errorf("read %q from the extra file, want through-fd-3", got)
	}
	// ls lists 0-2, 3 and the directory it reads.
	if fds := strings.Fields(out.text(t)); len(fds) != 5 || !slices.Equal(fds[:4], []string{"0", "1", "2", "3"}) {
		t.Errorf("the process had descriptors %v, want 0-3 and ls's own", fds)
	}

	startContainer(t, rt, "fds-monitor", testSpec(t, "sleep", "100"))
	rec, err := rt.load("fds-monitor")
	if err != nil || rec == nil {
		t.Fatalf("load: %v", err)
	}
	dir := "/proc/" + strconv.Itoa(rec.Monitor.Pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// stdio on /dev/null and the state directory; with the memory
	// controller, the OOM watch too: the cgroup's directory, its
	// memory.events and its parent's, and the signalfd the monitor waits
	// on with them.
	want := 4
	if h, err := cgroups.OpenHierarchy(rt.cgroupMount, cgroups.MissingWarn); err == nil && h.Has("memory") {
		want += 4
	}
	if len(entries) != want {
		var names []string
		for _, e := range entries {
			link, _ := os.Readlink(dir + "/" + e.Name())
			names = append(names, e.Name()+"->"+link)
		}
		t.Errorf("the monitor holds %d descriptors, want %d: %v", len(entries), want, names)
	}
}

// TestProcessSignalStateIsClean ignores SIGHUP and signal 32 in the caller,
// as a daemon started under nohup has the first: the container's process
// still starts with every signal at its default action and none blocked.
func TestProcessSignalStateIsClean(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	// Signal 32 is one that glibc keeps for itself and Go leaves alone;
	// a caller may still have ignored it. Set it with the raw system call.
	type sigaction struct {
		handler, flags, restorer uintptr
		mask                     uint64
	}
	ignore, old := sigaction{handler: 1}, sigaction{} // 1 is SIG_IGN
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, 32, uintptr(unsafe.Pointer(&ignore)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); errno != 0 {
		t.Fatalf("ignore signal 32: %v", errno)
	}
	defer syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, 32, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	rt := newTestRuntime(t)
	out, st := runToExit(t, rt, testSpec(t, "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"))
	want := "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
	if st.Code != 0 || out != want {
		t.Errorf("exit %+v, signal state %q, want %q", st, out, want)
	}
}

// TestInitKeepsNoIgnoredSignal ignores SIGHUP in the caller, as a daemon
// started under nohup has it, then hangs up a created container's init
// (as closing its terminal would) before it executes the process: the init
// must end, not go on to run the process with the hangup lost.
func TestInitKeepsNoIgnoredSignal(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Not the first process of a PID namespace, which the kernel spares
	// the signals it has no handler for (an exec's process is not one).
	spec := testSpec(t, "true")
	spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.PIDNamespace })
	if err := rt.Create(ctx, "hangup", writeBundle(t, spec), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "hangup", true) })
	st, err := rt.State(ctx, "hangup")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	exit, err := rt.Wait(ctx, "hangup")
	if err != nil {
		t.Fatalf("the hung-up init did not end: %v", err)
	}
	if exit.Signal != syscall.SIGHUP {
		t.Errorf("init ended with %+v, want SIGHUP", exit)
	}
}

package integration

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDaemonAndMonitorsMapNoCLibrary checks that crisp runs as it is built
// to (the Makefile's GOFLAGS_BUILD_STATIC): a static binary, so that the
// daemon, its spare and every container's monitor start without the
// dynamic loader and map no shared C library, which every monitor would
// otherwise hold resident.
func TestDaemonAndMonitorsMapNoCLibrary(t *testing.T) {
	f, err := elf.Open(crispBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: it is linked dynamically", crispBin)
		}
	}
	f.Close()

	d, _ := podNetworkDaemon(t, "")
	ref := loadBusybox(t, d)
	podJSON := filepath.Join(d.Dir, "pod.json")
	pod := `{"metadata":{"name":"static-pod","namespace":"default","uid":"static-uid","attempt":0},"linux":{}}`
	if err := os.WriteFile(podJSON, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	podID := strings.TrimSpace(crictl(t, d, "runp", podJSON))
	t.Cleanup(func() { crictl(t, d, "rmp", "-f", podID) })
	id := strings.TrimSpace(crictl(t, d, "create", podID, containerJSON(t, d, "sleeper", ref, "sleep 60"), podJSON))
	crictl(t, d, "start", id)
	waitContainerState(t, d, id, "CONTAINER_RUNNING", 10*time.Second)

	// The daemon and every process executing its binary (the monitor,
	// the spare) by inode: they run it from a read-only bind mount.
	want, err := os.Stat(crispBin)
	if err != nil {
		t.Fatal(err)
	}
	wantID := want.Sys().(*syscall.Stat_t)
	procs, err := filepath.Glob("/proc/[0-9]*/exe")
	if err != nil {
		t.Fatal(err)
	}
	var checked []string
	for _, exe := range procs {
		fi, err := os.Stat(exe)
		if err != nil {
			continue // exited, or a kernel thread
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Dev != wantID.Dev || st.Ino != wantID.Ino {
			continue
		}
		pid := filepath.Base(filepath.Dir(exe))
		maps, err := os.ReadFile(filepath.Join("/proc", pid, "maps"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(maps), "\n") {
			if strings.Contains(line, "/ld-linux") || strings.Contains(line, "/libc.so") {
				t.Errorf("process %s of crisp's binary maps %s", pid, strings.Join(strings.Fields(line)[5:], " "))
				break
			}
		}
		checked = append(checked, pid)
	}
	// The daemon and the container's monitor at least.
	if len(checked) < 2 {
		t.Fatalf("found %d processes of crisp's binary (%v), want the daemon (%d) and a monitor", len(checked), checked, d.Pid())
	}
	if !slices.Contains(checked, strconv.Itoa(d.Pid())) {
		t.Errorf("the daemon %d is not among the processes of its binary %v", d.Pid(), checked)
	}
	t.Logf("processes of crisp's binary: %v", checked)
}

// TestOCIHandOverFromEntryPoint checks crisp as the Makefile links it
// (GOFLAGS_BUILD_CRISP): its ELF entry point is crisp_entry, which hands
// `crisp oci …` over to the crisp-oci beside it before the C library
// starts, with GOMAXPROCS=1 and the mark for crisp-oci's runtime, and
// goes on to the C library's start for anything else.
func TestOCIHandOverFromEntryPoint(t *testing.T) {
	f, err := elf.Open(crispBin)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(syms, func(s elf.Symbol) bool { return s.Name == "crisp_entry" })
	if i < 0 || syms[i].Value != f.Entry {
		t.Fatalf("%s's entry point %#x is not crisp_entry", crispBin, f.Entry)
	}
	dir := t.TempDir()
	crisp := filepath.Join(dir, "crisp")
	data, err := os.ReadFile(crispBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crisp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"[$GOMAXPROCS][$_CRISP_OCI_GOMAXPROCS]\" \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "crisp-oci"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"oci", "list"}, nil, "[1][1] oci list\n"},
		{[]string{"oci", "--root", "/r", "state", "c1"}, []string{"GOMAXPROCS=2"}, "[2][] oci --root /r state c1\n"},
	} {
		cmd := exec.Command(crisp, tc.args...)
		cmd.Env = append(slices.Clone(env), tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != tc.want {
			t.Errorf("crisp %v: %v: %q, want %q", tc.args, err, out, tc.want)
		}
	}
	// Not handed over: crisp starts as usual.
	out, err := exec.Command(crisp, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "crisp version") {
		t.Errorf("crisp version: %v: %s", err, out)
	}
}

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeProc writes a process into a fake proc(5) tree: its executable link,
// command line, and VmRSS and Pss in KiB.
func fakeProc(t *testing.T, root string, pid int, exe string, args []string, rss, pss int64) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if exe != "" {
		if err := os.Symlink(exe, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"cmdline":      strings.Join(args, "\x00") + "\x00",
		"status":       "Name:\tx\nVmPeak:\t  99999 kB\nVmRSS:\t" + strconv.FormatInt(rss, 10) + " kB\nRssAnon:\t  1 kB\n",
		"smaps_rollup": "00400000-7fff0000 ---p 00000000 00:00 0    [rollup]\nRss:  " + strconv.FormatInt(rss, 10) + " kB\nPss:  " + strconv.FormatInt(pss, 10) + " kB\nPss_Anon:  1 kB\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMeasureCountsTheDaemonAndItsHelpers(t *testing.T) {
	root, bin := t.TempDir(), t.TempDir()
	daemon, shim, sleep := filepath.Join(bin, "daemon"), filepath.Join(bin, "shim"), filepath.Join(bin, "sleep")
	for _, f := range []string{daemon, shim, sleep} {
		if err := os.WriteFile(f, []byte(f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The daemon's binary seen through another path, as a bind mount of it.
	other := filepath.Join(bin, "other")
	if err := os.Link(daemon, other); err != nil {
		t.Fatal(err)
	}
	fakeProc(t, root, 10, daemon, []string{daemon, "--config", "/x/config.toml"}, 40000, 30000)
	// Monitors run the daemon's executable.
	fakeProc(t, root, 11, daemon, []string{"crisp", "init"}, 1000, 300)
	fakeProc(t, root, 12, other, []string{"crisp", "init"}, 1000, 300)
	// Shims name the daemon's socket as an argument.
	fakeProc(t, root, 20, shim, []string{shim, "-address", "/x/rt.sock", "-id", "a"}, 9000, 5000)
	// Neither: another runtime's shim, a container process, a kernel thread.
	fakeProc(t, root, 30, shim, []string{shim, "-address", "/y/rt.sock"}, 9000, 5000)
	fakeProc(t, root, 31, sleep, []string{"sleep", "/x/rt.sock.d"}, 500, 500)
	if err := os.MkdirAll(filepath.Join(root, "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		sel     memorySelector
		all     processMemory
		helpers []int
	}{
		{"daemon only", memorySelector{procRoot: root, pid: 10}, processMemory{Procs: 1, RSSKiB: 40000, PSSKiB: 30000, AnonKiB: 1}, nil},
		{"by executable", memorySelector{procRoot: root, pid: 10, exe: daemon}, processMemory{Procs: 3, RSSKiB: 42000, PSSKiB: 30600, AnonKiB: 3}, []int{11, 12}},
		{"by argument", memorySelector{procRoot: root, pid: 10, arg: "/x/rt.sock"}, processMemory{Procs: 2, RSSKiB: 49000, PSSKiB: 35000, AnonKiB: 2}, []int{20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.sel.measure(3)
			if err != nil {
				t.Fatal(err)
			}
			if want := (processMemory{Procs: 1, RSSKiB: 40000, PSSKiB: 30000, AnonKiB: 1}); m.Daemon != want {
				t.Errorf("daemon %+v, want %+v", m.Daemon, want)
			}
			if m.All != tt.all || m.Pods != 3 || !slices.Equal(m.Helpers, tt.helpers) {
				t.Errorf("measure = %+v, want all %+v and helpers %v", m, tt.all, tt.helpers)
			}
		})
	}
}

func TestMeasureFailsWithoutTheDaemon(t *testing.T) {
	root := t.TempDir()
	if _, err := (memorySelector{procRoot: root, pid: 10}).measure(0); err == nil || !strings.Contains(err.Error(), "daemon pid 10") {
		t.Errorf("measure of a missing daemon: %v", err)
	}
	// A process without VmRSS (a kernel thread) cannot be the daemon.
	fakeProc(t, root, 10, "", nil, 1, 1)
	if err := os.WriteFile(filepath.Join(root, "10", "status"), []byte("Name:\tkthreadd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (memorySelector{procRoot: root, pid: 10}).measure(0); err == nil || !strings.Contains(err.Error(), "no VmRSS: line") {
		t.Errorf("measure of a process without VmRSS: %v", err)
	}
}

func TestMeasureThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("needs /proc/self/smaps_rollup (Linux 4.14 or later):", err)
	}
	m, err := (memorySelector{procRoot: "/proc", pid: os.Getpid()}).measure(0)
	if err != nil {
		t.Fatal(err)
	}
	if m.Daemon.RSSKiB <= 0 || m.Daemon.PSSKiB <= 0 || m.Daemon.PSSKiB > m.Daemon.RSSKiB {
		t.Errorf("this process: %+v, want 0 < PSS <= RSS", m.Daemon)
	}
}

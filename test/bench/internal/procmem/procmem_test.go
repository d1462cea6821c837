package procmem

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeProc writes a process into a fake proc(5) tree: its executable link,
// command line, VmRSS and Pss in KiB, 1 KiB of RssAnon, 2 threads and 7
// ticks of CPU time.
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
		"status":       "Name:\tx\nVmPeak:\t  99999 kB\nVmRSS:\t" + strconv.FormatInt(rss, 10) + " kB\nRssAnon:\t  1 kB\nThreads:\t2\n",
		"stat":         strconv.Itoa(pid) + " (a (b) c) S 1 1 1 0 -1 4194560 100 0 0 0 5 2 0 0 20 0 2 0 100 1000 10 18446744073709551615\n",
		"smaps_rollup": "00400000-7fff0000 ---p 00000000 00:00 0    [rollup]\nRss:  " + strconv.FormatInt(rss, 10) + " kB\nPss:  " + strconv.FormatInt(pss, 10) + " kB\nPss_Anon:  1 kB\nAnonymous:  1 kB\n",
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
		sel     Selector
		all     Usage
		helpers []int
	}{
		{"daemon only", Selector{ProcRoot: root, PID: 10}, Usage{Procs: 1, RSSKiB: 40000, PSSKiB: 30000, AnonKiB: 1, Threads: 2, CPUTicks: 7}, nil},
		{"by executable", Selector{ProcRoot: root, PID: 10, Exe: daemon}, Usage{Procs: 3, RSSKiB: 42000, PSSKiB: 30600, AnonKiB: 3, Threads: 6, CPUTicks: 21}, []int{11, 12}},
		{"by argument", Selector{ProcRoot: root, PID: 10, Arg: "/x/rt.sock"}, Usage{Procs: 2, RSSKiB: 49000, PSSKiB: 35000, AnonKiB: 2, Threads: 4, CPUTicks: 14}, []int{20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			daemon, all, helpers, err := tt.sel.Measure()
			if err != nil {
				t.Fatal(err)
			}
			if want := (Usage{Procs: 1, RSSKiB: 40000, PSSKiB: 30000, AnonKiB: 1, Threads: 2, CPUTicks: 7}); daemon != want {
				t.Errorf("daemon %+v, want %+v", daemon, want)
			}
			if all != tt.all || !slices.Equal(helpers, tt.helpers) {
				t.Errorf("Measure = all %+v, helpers %v; want all %+v and helpers %v", all, helpers, tt.all, tt.helpers)
			}
		})
	}
}

func TestMeasureFailsWithoutTheDaemon(t *testing.T) {
	root := t.TempDir()
	if _, _, _, err := (Selector{ProcRoot: root, PID: 10}).Measure(); err == nil || !strings.Contains(err.Error(), "daemon pid 10") {
		t.Errorf("measure of a missing daemon: %v", err)
	}
	// A process without Rss (a kernel thread) cannot be the daemon.
	fakeProc(t, root, 10, "", nil, 1, 1)
	if err := os.WriteFile(filepath.Join(root, "10", "smaps_rollup"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := (Selector{ProcRoot: root, PID: 10}).Measure(); err == nil || !strings.Contains(err.Error(), "no Rss: line") {
		t.Errorf("measure of a process without Rss: %v", err)
	}
}

func TestMeasureThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("needs /proc/self/smaps_rollup (Linux 4.14 or later):", err)
	}
	// Burn some CPU time, so that it shows.
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	daemon, _, _, err := (Selector{ProcRoot: "/proc", PID: os.Getpid()}).Measure()
	if err != nil {
		t.Fatal(err)
	}
	if daemon.RSSKiB <= 0 || daemon.PSSKiB <= 0 || daemon.PSSKiB > daemon.RSSKiB || daemon.AnonKiB <= 0 || daemon.AnonKiB > daemon.RSSKiB || daemon.Threads < 1 || daemon.CPUTicks == 0 {
		t.Errorf("this process: %+v, want 0 < PSS <= RSS, 0 < RssAnon <= RSS, threads and CPU time", daemon)
	}
}

package oci

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// benchBundle writes the bundle both runtimes run: the default spec with
// /bin/true, no terminal.
func benchBundle(b *testing.B) string {
	spec := Example()
	spec.Root = &specs.Root{Path: busyboxRootfs(b)}
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/true"}
	return writeBundle(b, spec)
}

// reportMedian records the median of the per-iteration durations.
func reportMedian(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "median-ms")
}

// BenchmarkLifecycle measures create, start, wait and delete of a
// /bin/true container: crisp through its library (as the daemon runs
// containers), and runc through its command line (as containerd does).
// hack/bench-oci.sh prints the ratio of the medians.
func BenchmarkLifecycle(b *testing.B) {
	ctx := context.Background()
	b.Run("crisp", func(b *testing.B) {
		rt := newTestRuntime(b)
		bundle := benchBundle(b)
		times := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			id := fmt.Sprintf("bench-%d", i)
			if err := rt.Create(ctx, id, bundle, CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			if err := rt.Start(ctx, id); err != nil {
				b.Fatal(err)
			}
			if st, err := rt.Wait(ctx, id); err != nil || st.Code != 0 {
				b.Fatalf("wait: %+v %v", st, err)
			}
			if err := rt.Delete(ctx, id, false); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})
	b.Run("runc", func(b *testing.B) {
		runc, err := exec.LookPath("runc")
		if err != nil {
			b.Skip("needs runc (apt-get install runc)")
		}
		busyboxRootfs(b)
		bundle := benchBundle(b)
		root := b.TempDir()
		// runc's init is reparented to us when runc create exits.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			b.Fatal(err)
		}
		defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		logPath := filepath.Join(root, "log")
		runcCmd := func(args ...string) {
			// The container inherits runc's stdio: not a pipe we would
			// wait on.
			cmd := exec.Command(runc, append([]string{"--root", root, "--log", logPath}, args...)...)
			if err := cmd.Run(); err != nil {
				log, _ := os.ReadFile(logPath)
				b.Fatalf("runc %s: %v: %s", strings.Join(args, " "), err, log)
			}
		}
		times := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			id := fmt.Sprintf("bench-%d", i)
			pidFile := filepath.Join(root, id+".pid")
			runcCmd("create", "--bundle", bundle, "--pid-file", pidFile, id)
			data, err := os.ReadFile(pidFile)
			if err != nil {
				b.Fatal(err)
			}
			pid, _ := strconv.Atoi(string(data))
			runcCmd("start", id)
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
				b.Fatalf("wait for runc's init %d: %v %v", pid, ws, err)
			}
			runcCmd("delete", id)
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})
}

// BenchmarkSealedExe shows the cost of the CVE-2019-5736 defence: crisp
// pays the read-only bind mount once per Runtime (the memfd copy is the
// fallback for kernels without the new mount API).
func BenchmarkSealedExe(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	b.Run("ro-mount", func(b *testing.B) {
		for range b.N {
			f, err := openReadOnlyExe("/proc/self/exe")
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("memfd-copy", func(b *testing.B) {
		for range b.N {
			f, err := copySealedExe("/proc/self/exe")
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

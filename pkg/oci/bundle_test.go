package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/criu/criupb"
)

// The integration tests run real containers: root, a cgroup2 mount and
// Debian's busybox-static are needed.

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// busyboxRootfs builds, once per test binary, a root file system with a
// static busybox and a symlink for each applet.
func busyboxRootfs(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox-static (apt-get install busybox-static)")
	}
	rootfsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crisp-oci-rootfs-")
		if err != nil {
			rootfsErr = err
			return
		}
		rootfsDir = dir
		// Root of a user namespace must be able to enter it.
		if err := os.Chmod(dir, 0o755); err != nil {
			rootfsErr = err
			return
		}
		for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				rootfsErr = err
				return
			}
		}
		data, err := os.ReadFile(bb)
		if err != nil {
			rootfsErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
			rootfsErr = err
			return
		}
		out, err := exec.Command(bb, "--list").Output()
		if err != nil {
			rootfsErr = fmt.Errorf("busybox --list: %w", err)
			return
		}
		for _, applet := range strings.Fields(string(out)) {
			if applet != "busybox" {
				_ = os.Symlink("busybox", filepath.Join(dir, "bin", applet))
			}
		}
	})
	if rootfsErr != nil {
		t.Fatalf("build the busybox rootfs: %v", rootfsErr)
	}
	return rootfsDir
}

// cgroupMount finds a cgroup2 mount: /sys/fs/cgroup on a pure v2 host, the
// unified mount on a hybrid one.
func cgroupMount(t testing.TB) string {
	t.Helper()
	m := cgroups.FindMount()
	if m == "" {
		t.Skip("needs a cgroup2 mount")
	}
	return m
}

// newTestRuntime returns a Runtime with its state in a temporary directory,
// which checkpoints and restores as crisp's does.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	busyboxRootfs(t)
	rt, err := New(Options{Root: t.TempDir(), CgroupMount: cgroupMount(t), CRIU: criupb.Codec{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// testSpec is a minimal container running args in the busybox rootfs.
func testSpec(t testing.TB, args ...string) *specs.Spec {
	t.Helper()
	spec := Example()
	spec.Root = &specs.Root{Path: busyboxRootfs(t)}
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Process.Capabilities = nil
	spec.Process.NoNewPrivileges = false
	spec.Linux.CgroupsPath = "/crisp-test/" + strings.NewReplacer("/", "-").Replace(t.Name())
	return spec
}

// writeBundle writes spec into a new bundle directory.
func writeBundle(t testing.TB, spec *specs.Spec) string {
	t.Helper()
	dir := t.TempDir()
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// outputPipe collects what a container writes.
type outputPipe struct {
	w    *os.File
	done chan struct{}
	buf  bytes.Buffer
}

func newOutputPipe(t testing.TB) *outputPipe {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &outputPipe{w: w, done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(&p.buf, r)
		r.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.w.Close() })
	return p
}

// text closes the write end and returns everything written once every
// writer is gone.
func (p *outputPipe) text(t testing.TB) string {
	t.Helper()
	p.w.Close()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("container output did not end")
	}
	return p.buf.String()
}

// createContainer creates id from spec with stdout and stderr to out and
// deletes it (forcibly) when the test ends.
func createContainer(t testing.TB, rt *Runtime, id string, spec *specs.Spec, out *outputPipe) {
	t.Helper()
	opts := CreateOptions{}
	if out != nil {
		opts.Stdout, opts.Stderr = out.w, out.w
	}
	if err := rt.Create(context.Background(), id, writeBundle(t, spec), opts); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := rt.Delete(context.Background(), id, true); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("delete %s: %v", id, err)
		}
	})
}

// runToExit runs spec to its end and returns its output and exit status.
func runToExit(t testing.TB, rt *Runtime, spec *specs.Spec) (string, *ExitStatus) {
	t.Helper()
	id := "c" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	out := newOutputPipe(t)
	createContainer(t, rt, id, spec, out)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	st, err := rt.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := rt.Delete(ctx, id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	return out.text(t), st
}

// startContainer creates and starts a long-running container.
func startContainer(t testing.TB, rt *Runtime, id string, spec *specs.Spec) *State {
	t.Helper()
	out := newOutputPipe(t)
	createContainer(t, rt, id, spec, out)
	if err := rt.Start(context.Background(), id); err != nil {
		t.Fatalf("start %s: %v (output %q)", id, err, out.text(t))
	}
	st, err := rt.State(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

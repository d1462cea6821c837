package container

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// hog fills memory until the OOM killer ends it.
const hog = "a=x; while true; do a=$a$a; done"

// oomConfig is a container running script under a 32 MiB memory limit
// without swap.
func oomConfig(name, script string) *runtimeapi.ContainerConfig {
	cfg := config(name, script)
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20, MemorySwapLimitInBytes: 32 << 20}
	return cfg
}

// waitOOMExited is env.waitExited with room for a guest under load, where
// reclaim at the limit can take tens of seconds before the OOM killer acts.
// The bound only keeps a broken test from hanging.
func (e *env) waitOOMExited(t *testing.T, id string) *Container {
	t.Helper()
	return e.waitExitedWithin(t, id, 3*time.Minute)
}

// TestOOMKilledChild: a process the OOM killer kills while the init
// survives makes the container OOMKilled when the init exits, whatever its
// exit code, as CRI-O reports it.
func TestOOMKilledChild(t *testing.T) {
	e := newEnvWith(t, cgroups.MissingError)
	if !e.cgroups.Has("memory") {
		t.Skipf("needs the memory controller in the cgroup2 hierarchy at %s (a guest test)", e.cgroups.Mount())
	}
	oomKilledChild(t, e)
}

func oomKilledChild(t *testing.T, e *env) {
	sb := e.pod(t, "oom-child", sandbox.ModeContainer)
	// The init outlives its child a little, as a container's main process
	// does: with the systemd driver an init that ends at once can take its
	// scope with it before the monitor reads the kill (docs/reliability.md,
	// known limits).
	c := e.run(t, sb, oomConfig("child", "sh -c '"+hog+"'; echo child $?; sleep 0.5"))
	got := e.waitOOMExited(t, c.ID)
	waitLog(t, c.LogPath, "child 137")
	if got.Reason != ReasonOOMKilled || got.ExitCode != 0 {
		t.Errorf("container whose child was OOM-killed exited %d with reason %q, want 0 OOMKilled", got.ExitCode, got.Reason)
	}
}

// TestOOMKilledSystemd: with the systemd cgroup driver, the container's
// scope and its cgroup are gone as soon as its last process is: the OOM
// kill must be known without them, also when it happens while the daemon
// is down.
func TestOOMKilledSystemd(t *testing.T) {
	if fi, err := os.Lstat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("needs systemd as PID 1 (the qemu guest)")
	}
	e := newEnvWith(t, cgroups.MissingError)
	if !e.cgroups.Has("memory") {
		t.Skipf("needs the memory controller in the cgroup2 hierarchy at %s (a guest test)", e.cgroups.Mount())
	}
	e.driver = cgroups.DriverSystemd
	e.open(t)

	t.Run("init", func(t *testing.T) {
		sb := e.pod(t, "oom-init", sandbox.ModeContainer)
		c := e.run(t, sb, oomConfig("hog", hog))
		got := e.waitOOMExited(t, c.ID)
		if got.Reason != ReasonOOMKilled || got.ExitCode != 137 {
			t.Errorf("memory hog exited %d with reason %q, want 137 OOMKilled", got.ExitCode, got.Reason)
		}
	})
	t.Run("child", func(t *testing.T) { oomKilledChild(t, e) })
	t.Run("daemon down", func(t *testing.T) {
		sb := e.pod(t, "oom-down", sandbox.ModeContainer)
		c := e.run(t, sb, oomConfig("later", "mkfifo /go && echo ready; read x </go; "+hog))
		waitLog(t, c.LogPath, "ready")
		e.close()
		// The hog starts while no manager watches the container.
		fifo, err := os.OpenFile(filepath.Join("/proc", strconv.Itoa(c.Pid), "root/go"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fifo.WriteString("go\n")
		fifo.Close()
		if err != nil {
			t.Fatal(err)
		}
		rt, err := oci.New(oci.Options{Root: filepath.Join(e.state, "oci"), CgroupMount: e.cgroups.Mount(), SystemdCgroup: true})
		if err != nil {
			t.Fatal(err)
		}
		// The bound only keeps a broken test from hanging.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		_, err = rt.Wait(ctx, c.ID)
		cancel()
		rt.Close()
		if err != nil {
			t.Fatal(err)
		}
		e.open(t)
		got := e.waitOOMExited(t, c.ID)
		if got.Reason != ReasonOOMKilled || got.ExitCode != 137 {
			t.Errorf("memory hog killed while the daemon was down: exited %d with reason %q, want 137 OOMKilled", got.ExitCode, got.Reason)
		}
	})
}

package container

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func TestStatsSampleCgroupAndWritableLayer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "stats", sandbox.ModeContainer)
	// Write 1 MiB to the writable layer, then burn some CPU and wait.
	c := e.run(t, sb, config("stats", "dd if=/dev/zero of=/written bs=1024 count=1024 2>/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; sleep 1000"))
	waitLog(t, c.LogPath, "ready")

	first, err := e.m.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cgroup == nil || first.Cgroup.CPU.UsageUsec == 0 || first.Previous != nil {
		t.Errorf("first sample: cgroup %+v, previous %v; want CPU use and no previous sample", first.Cgroup, first.Previous)
	}
	if first.WritableLayer.Bytes < 1<<20 || first.WritableLayer.Inodes == 0 || first.Mountpoint != e.images.Root() {
		t.Errorf("writable layer %+v on %s, want at least the 1 MiB written on %s", first.WritableLayer, first.Mountpoint, e.images.Root())
	}
	if time.Since(first.Timestamp) > time.Minute {
		t.Errorf("sample timestamp %v", first.Timestamp)
	}
	second, err := e.m.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.Previous != first.Cgroup {
		t.Error("the second sample does not carry the first as its previous one")
	}

	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Stats(ctx, c.ID); err == nil {
		t.Error("stats of a removed container succeeded")
	}
	if prev := e.m.index.SwapSample(c.ID, second.Cgroup); prev != nil || e.m.index.Len() != 0 {
		t.Errorf("stats sample kept after removal (%d ids tracked)", e.m.index.Len())
	}
}

type startRecorder struct {
	mu     sync.Mutex
	starts []error
	total  time.Duration
}

func (r *startRecorder) ObserveStart(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, err)
	r.total += d
}

// What the CRI metrics read of a running container comes from the kernel:
// its cgroup's name, the processes, threads and descriptors in it, and the
// filesystem its writable layer is on. Its start was timed.
func TestProcessStatsAndCapacityOfARunningContainer(t *testing.T) {
	e := newEnv(t)
	rec := &startRecorder{}
	e.observer = rec
	e.open(t)
	ctx := context.Background()
	sb := e.pod(t, "procs", sandbox.ModeContainer)
	// The shell, a sleep, and nc with a listening socket.
	c := e.run(t, sb, config("procs", "sleep 1000 & nc -l -p 12345 & while ! netstat -ltn | grep -q :12345; do :; done; echo ready; wait"))
	waitLog(t, c.LogPath, "ready")

	ps, err := e.m.ProcessStats(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Processes < 3 || ps.Threads < ps.Processes || ps.FileDescriptors < 3*ps.Processes || ps.Sockets < 1 {
		t.Errorf("ProcessStats = %+v, want the shell, sleep and nc with their stdio", ps)
	}
	st, err := e.m.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	cg, err := cgroups.NewManager(e.cgroups, c.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.CgroupName != cg.Name() || !strings.HasSuffix(cg.Path(), st.CgroupName) {
		t.Errorf("CgroupName = %q, want %q", st.CgroupName, cg.Name())
	}
	if fs, err := e.m.Filesystem(); err != nil || fs.Bytes == 0 || fs.Inodes == 0 || fs.FreeInodes > fs.Inodes || fs.Device == "" {
		t.Errorf("Filesystem = %+v, %v", fs, err)
	}
	rec.mu.Lock()
	if len(rec.starts) != 1 || rec.starts[0] != nil || rec.total <= 0 {
		t.Errorf("starts observed: %v in %v, want one success", rec.starts, rec.total)
	}
	rec.mu.Unlock()

	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.ProcessStats(c.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ProcessStats of a removed container = %v, want NotFound", err)
	}
}

package container

import (
	"context"
	"testing"
	"time"

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

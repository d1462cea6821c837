package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func TestUpdateResources(t *testing.T) {
	e := newEnvWith(t, cgroups.MissingError)
	ctx := context.Background()
	sb := e.pod(t, "update", sandbox.ModeContainer)
	c := e.run(t, sb, config("update", "echo ready; sleep 1000"))
	waitLog(t, c.LogPath, "ready")
	cg := filepath.Join(e.cgroups.Mount(), c.CgroupsPath)

	t.Run("memory", func(t *testing.T) {
		res := &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}
		err := e.m.UpdateResources(ctx, c.ID, res)
		if !e.cgroups.Has("memory") {
			// A hybrid host: the limit cannot be had and must not be
			// pretended.
			t.Logf("memory update without the memory controller: %v", err)
			if err == nil || !strings.Contains(err.Error(), "memory") {
				t.Fatalf("memory update without the memory controller: %v, want an error naming it", err)
			}
			if got, _ := e.m.Get(c.ID); got.Resources != nil {
				t.Errorf("a failed update was recorded: %+v", got.Resources)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(filepath.Join(cg, "memory.max")); strings.TrimSpace(string(data)) != "67108864" {
			t.Errorf("memory.max = %q, want 67108864", data)
		}
		if got, _ := e.m.Get(c.ID); got.Resources == nil || got.Resources.MemoryLimitInBytes != 64<<20 {
			t.Errorf("recorded resources %+v", got.Resources)
		}
	})

	t.Run("hugetlb", func(t *testing.T) {
		const file = "hugetlb.2MB.max"
		if !e.cgroups.Has("hugetlb") {
			t.Skip("needs the hugetlb controller in the cgroup2 hierarchy")
		}
		if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
			t.Skip("needs 2 MiB huge pages")
		}
		res := &runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}}}
		if err := e.m.UpdateResources(ctx, c.ID, res); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(filepath.Join(cg, file)); strings.TrimSpace(string(data)) != "4194304" {
			t.Errorf("%s = %q, want 4194304", file, data)
		}
		got, _ := e.m.Get(c.ID)
		if got.Resources == nil || len(got.Resources.HugepageLimits) != 1 || got.Resources.HugepageLimits[0].Limit != 4<<20 {
			t.Errorf("recorded resources %+v", got.Resources)
		}
	})

	t.Run("bad value", func(t *testing.T) {
		res := &runtimeapi.LinuxContainerResources{CpusetCpus: "not-a-list"}
		if err := e.m.UpdateResources(ctx, c.ID, res); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("update with a malformed cpuset: %v, want invalid argument", err)
		}
	})

	// An exited container's record takes the update; there is no cgroup
	// limit to change any more.
	if err := e.m.Stop(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	res := &runtimeapi.LinuxContainerResources{CpuShares: 256}
	if err := e.m.UpdateResources(ctx, c.ID, res); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.m.Get(c.ID); got.Resources == nil || got.Resources.CPUShares != 256 {
		t.Errorf("recorded resources of an exited container: %+v", got.Resources)
	}
}

func TestOOMKilled(t *testing.T) {
	e := newEnvWith(t, cgroups.MissingError)
	if !e.cgroups.Has("memory") {
		t.Skipf("needs the memory controller in the cgroup2 hierarchy at %s (a guest test)", e.cgroups.Mount())
	}
	sb := e.pod(t, "oom", sandbox.ModeContainer)
	cfg := config("hog", "a=x; while true; do a=$a$a; done")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20, MemorySwapLimitInBytes: 32 << 20}
	c := e.run(t, sb, cfg)
	got := e.waitOOMExited(t, c.ID)
	if got.Reason != ReasonOOMKilled || got.ExitCode != 137 {
		t.Errorf("memory hog exited %d with reason %q, want 137 OOMKilled", got.ExitCode, got.Reason)
	}
}

package peer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	occgroups "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// The same container limits for both: what kubelet sends for a burstable
// container with 0.5 CPU, 64 MiB and no swap, plus a pids limit.
var criResources = &runtimeapi.LinuxContainerResources{
	CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000,
	MemoryLimitInBytes: 64 << 20, MemorySwapLimitInBytes: 64 << 20,
}

func peerResources() *occgroups.Resources {
	return &occgroups.Resources{
		CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000,
		Memory: 64 << 20, MemorySwap: 64 << 20, PidsLimit: ptr(int64(1024)),
	}
}

func ptr[T any](v T) *T { return &v }

func hierarchy(b *testing.B) *cgroups.Hierarchy {
	b.Helper()
	h, err := cgroups.OpenHierarchy(cgroups.DefaultMount, cgroups.MissingError)
	if err != nil {
		b.Skipf("needs a pure cgroup v2 host (the guests): %v", err)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !h.Has(c) {
			b.Skipf("needs the %s controller", c)
		}
	}
	return h
}

// BenchmarkLifecycle: create the container cgroup, write the limits,
// remove it.
func BenchmarkLifecycle(b *testing.B) {
	h := hierarchy(b)
	parent := fmt.Sprintf("/crisp-bench-%d", os.Getpid())
	ctx := context.Background()
	b.Run("crisp", func(b *testing.B) {
		res := cgroups.WithDefaultPidsLimit(cgroups.ResourcesFromCRI(criResources), 1024)
		for i := 0; b.Loop(); i++ {
			m, err := cgroups.NewManager(h, fmt.Sprintf("%s/crisp-%d", parent, i))
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Create(ctx); err != nil {
				b.Fatal(err)
			}
			if err := m.Apply(res); err != nil {
				b.Fatal(err)
			}
			if err := m.Destroy(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("runc-fs2", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			cg := &occgroups.Cgroup{Resources: peerResources()}
			m, err := fs2.NewManager(cg, filepath.Join(h.Mount(), parent, fmt.Sprintf("runc-%d", i)))
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Apply(-1); err != nil {
				b.Fatal(err)
			}
			if err := m.Set(cg.Resources); err != nil {
				b.Fatal(err)
			}
			if err := m.Destroy(); err != nil {
				b.Fatal(err)
			}
		}
	})
	p, _ := cgroups.NewManager(h, parent)
	if err := p.Destroy(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStats: one statistics sample of a container cgroup.
func BenchmarkStats(b *testing.B) {
	h := hierarchy(b)
	ctx := context.Background()
	m, err := cgroups.NewManager(h, fmt.Sprintf("/crisp-bench-stats-%d", os.Getpid()))
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Create(ctx); err != nil {
		b.Fatal(err)
	}
	defer m.Destroy(ctx)
	b.Run("crisp", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Stats(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("runc-fs2", func(b *testing.B) {
		pm, err := fs2.NewManager(&occgroups.Cgroup{Resources: &occgroups.Resources{}}, m.Path())
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := pm.GetStats(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

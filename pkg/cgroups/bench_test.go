package cgroups

import (
	"context"
	"fmt"
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// benchHierarchy opens the real hierarchy for benchmarks, like realHierarchy.
func benchHierarchy(b *testing.B) *Hierarchy {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root to create cgroups")
	}
	h, err := OpenHierarchy(DefaultMount, MissingWarn)
	if err != nil {
		for _, mount := range cgroup2Mounts() {
			if h, err = OpenHierarchy(mount, MissingWarn); err == nil {
				break
			}
		}
	}
	if h == nil {
		b.Skipf("needs a cgroup2 mount: %v", err)
	}
	return h
}

// BenchmarkContainerCgroupLifecycle is the per-container cost crisp pays:
// create the cgroup, apply kubelet-like limits, open the CLONE_INTO_CGROUP fd,
// destroy.
func BenchmarkContainerCgroupLifecycle(b *testing.B) {
	h := benchHierarchy(b)
	res := memoryLimit(64 << 20)
	res.CPU = &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000))}
	res = WithDefaultPidsLimit(res, 1024)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		m, err := NewManager(h, fmt.Sprintf("/%sbench-%d/c%d", testCgroupPrefix, os.Getpid(), i))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Create(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.Apply(res); err != nil {
			b.Fatal(err)
		}
		fd, err := m.OpenFD()
		if err != nil {
			b.Fatal(err)
		}
		fd.Close()
		if err := m.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
	}
	parent, _ := NewManager(h, fmt.Sprintf("/%sbench-%d", testCgroupPrefix, os.Getpid()))
	if err := parent.Destroy(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStats is the cost of one stats sample, paid per container per
// kubelet stats poll.
func BenchmarkStats(b *testing.B) {
	h := benchHierarchy(b)
	m, err := NewManager(h, fmt.Sprintf("/%sbench-stats-%d", testCgroupPrefix, os.Getpid()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Create(ctx); err != nil {
		b.Fatal(err)
	}
	defer m.Destroy(ctx)
	for b.Loop() {
		if _, err := m.Stats(); err != nil {
			b.Fatal(err)
		}
	}
}

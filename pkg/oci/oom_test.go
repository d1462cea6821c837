package oci

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// TestOOMKillRecord: the monitor records the OOM kills of the container's
// cgroup when the init exits, and the record does not need the cgroup any
// more: it is removed before the record is read, as systemd removes an
// empty scope's cgroup.
func TestOOMKillRecord(t *testing.T) {
	rt := newTestRuntime(t)
	h, err := cgroups.OpenHierarchy(rt.cgroupMount, cgroups.MissingWarn)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Has("memory") {
		t.Skipf("needs the memory controller in the cgroup2 hierarchy at %s (a guest test)", rt.cgroupMount)
	}
	const hog = "a=x; while true; do a=$a$a; done"
	for _, tc := range []struct {
		name, script string
		code         int
		killed       bool
	}{
		{"init", hog, 137, true},
		// The init survives the kill of its child: the kill counts.
		{"child", "sh -c '" + hog + "'; exit 3", 3, true},
		{"none", "exit 0", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, "sh", "-c", tc.script)
			limit := int64(32 << 20)
			spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
			id := "oom-" + tc.name
			createContainer(t, rt, id, spec, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := rt.Start(ctx, id); err != nil {
				t.Fatal(err)
			}
			st, err := rt.Wait(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Code != tc.code {
				t.Errorf("exit status %+v, want code %d", st, tc.code)
			}
			if err := os.Remove(filepath.Join(rt.cgroupMount, spec.Linux.CgroupsPath)); err != nil {
				t.Fatalf("remove the container's cgroup: %v", err)
			}
			n, ok, err := rt.OOMKills(id)
			if err != nil || !ok || (n > 0) != tc.killed {
				t.Errorf("OOMKills = %d, %v, %v; want a record, killed %v", n, ok, err, tc.killed)
			}
		})
	}
}

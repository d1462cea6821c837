package oci

import "testing"

// TestHierarchyOpenedOnce checks that a Runtime opens a cgroup hierarchy
// once, so its systemd connection is shared by every operation, and that
// Close releases it.
func TestHierarchyOpenedOnce(t *testing.T) {
	rt := newTestRuntime(t)
	mount := cgroupMount(t)
	a, err := rt.hierarchy(mount)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.hierarchy(mount)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("a second operation opened the hierarchy again")
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if len(rt.hierarchies) != 0 {
		t.Errorf("Close kept %d hierarchies", len(rt.hierarchies))
	}
}

package cgroups

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// unitState returns the LoadState and ActiveState systemd reports for unit.
func unitState(t *testing.T, m *Manager) (load, active string) {
	t.Helper()
	conn, err := m.h.systemdConn().get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	props, err := conn.GetUnitPropertiesContext(t.Context(), m.Unit())
	if err != nil {
		t.Fatalf("unit %s properties: %v", m.Unit(), err)
	}
	load, _ = props["LoadState"].(string)
	active, _ = props["ActiveState"].(string)
	return load, active
}

// systemdTestPod starts the slice of pod "p1" under the kubelet-style
// parent slice, and removes it, checking, when the test ends.
func systemdTestPod(ctx context.Context, t *testing.T, h *Hierarchy, parent string) *Manager {
	t.Helper()
	podPath, err := PodCgroupsPath(DriverSystemd, parent, "p1")
	if err != nil {
		t.Fatal(err)
	}
	pod, err := NewManager(h, podPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := pod.Create(ctx); err != nil {
		t.Fatalf("Create pod slice: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pod.Destroy(ctx); err != nil || pod.Exists() {
			t.Errorf("Destroy pod: %v (exists %v)", err, pod.Exists())
		}
	})
	return pod
}

// systemdTestContainer prepares the scope of container id in pod "p1"'s
// slice (systemd starts it with its first process), and removes it,
// checking, when the test ends.
func systemdTestContainer(ctx context.Context, t *testing.T, h *Hierarchy, parent, id string) *Manager {
	t.Helper()
	ctrPath, err := ContainerCgroupsPath(DriverSystemd, parent, "p1", id)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := NewManager(h, ctrPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctr.Create(ctx); err != nil {
		t.Fatalf("Create container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := ctr.Destroy(ctx); err != nil || ctr.Exists() {
			t.Errorf("Destroy container: %v (exists %v)", err, ctr.Exists())
		}
	})
	return ctr
}

func TestKernelSystemdDriverScopesUnderKubepods(t *testing.T) {
	h := realHierarchy(t, MissingError, "memory", "pids")
	if fi, err := os.Lstat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("needs systemd as PID 1 (the qemu guest)")
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	parent := fmt.Sprintf("kubepods-crisptest%d.slice", os.Getpid())
	pod := systemdTestPod(ctx, t, h, parent)
	if want := h.Mount() + "/kubepods.slice/" + parent; pod.Path() != want || !pod.Exists() {
		t.Fatalf("pod cgroup %s (exists %v), want %s", pod.Path(), pod.Exists(), want)
	}
	if load, active := unitState(t, pod); load != "loaded" || active != "active" {
		t.Fatalf("pod slice %s is %s/%s", pod.Unit(), load, active)
	}

	ctr := systemdTestContainer(ctx, t, h, parent, "c1")
	if err := ctr.Apply(memoryLimit(48 << 20)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	helper := startHelper(t, ctr, "sleep")
	if err := ctr.AddProcess(helper.Process.Pid); err != nil {
		t.Fatalf("AddProcess (starts the scope): %v", err)
	}
	if load, active := unitState(t, ctr); load != "loaded" || active != "active" {
		t.Fatalf("container scope %s is %s/%s", ctr.Unit(), load, active)
	}
	conn, _ := h.systemdConn().get(ctx)
	if p, err := conn.GetUnitTypePropertyContext(ctx, ctr.Unit(), "Scope", "Delegate"); err != nil || p.Value.Value() != true {
		t.Errorf("scope Delegate = %v, %v; want true", p, err)
	}
	procs, err := ctr.Procs()
	if err != nil || !slices.Contains(procs, helper.Process.Pid) {
		t.Errorf("scope procs %v, %v; want %d", procs, err, helper.Process.Pid)
	}
	// systemd realizing the scope must not have reset crisp's limit.
	if v, err := readUint(ctr.Path(), "memory.max"); err != nil || v != 48<<20 {
		t.Errorf("memory.max after the scope started = %d, %v; want %d", v, err, 48<<20)
	}
	// A live update goes to systemd too, so a daemon-reload keeps it.
	if err := ctr.Apply(memoryLimit(64 << 20)); err != nil {
		t.Fatalf("live Apply: %v", err)
	}
	if err := conn.ReloadContext(ctx); err != nil {
		t.Fatalf("daemon-reload: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if v, err := readUint(ctr.Path(), "memory.max"); err != nil || v != 64<<20 {
		t.Errorf("memory.max after update and daemon-reload = %d, %v; want %d", v, err, 64<<20)
	}

	if err := ctr.Destroy(ctx); err != nil {
		t.Fatalf("Destroy container: %v", err)
	}
	if ctr.Exists() {
		t.Errorf("scope cgroup %s left behind", ctr.Path())
	}
	if load, active := unitState(t, ctr); active != "inactive" || load == "loaded" {
		t.Errorf("scope %s left as %s/%s", ctr.Unit(), load, active)
	}
	// Limits applied by one process survive another process starting the
	// scope, as with crisp oci create and start.
	other, err := NewManager(h, parent+":crisp:other")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Create(ctx); err != nil {
		t.Fatalf("Create other: %v", err)
	}
	if err := other.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(40 << 20))}, CPU: &specs.LinuxCPU{Quota: ptr(int64(20000)), Period: ptr(uint64(100000))}}); err != nil {
		t.Fatalf("Apply other: %v", err)
	}
	fresh, _ := NewManager(h, parent+":crisp:other")
	otherHelper := startHelper(t, fresh, "sleep")
	if err := fresh.AddProcess(otherHelper.Process.Pid); err != nil {
		t.Fatalf("AddProcess from a fresh Manager: %v", err)
	}
	if v, err := readUint(fresh.Path(), "memory.max"); err != nil || v != 40<<20 {
		t.Errorf("memory.max after a fresh Manager started the scope = %d, %v; want %d", v, err, 40<<20)
	}
	if v, _ := readFile(fresh.Path(), "cpu.max"); v != "20000 100000\n" {
		t.Errorf("cpu.max after a fresh Manager started the scope = %q", v)
	}
	if err := fresh.Destroy(ctx); err != nil || fresh.Exists() {
		t.Errorf("Destroy other: %v (exists %v)", err, fresh.Exists())
	}

	// A container that never got a process has a directory but no unit:
	// Destroy must still leave nothing.
	idle, err := NewManager(h, parent+":crisp:idle")
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Create(ctx); err != nil {
		t.Fatalf("Create idle container: %v", err)
	}
	if err := idle.Destroy(ctx); err != nil || idle.Exists() {
		t.Errorf("Destroy of a never-started scope: %v (exists %v)", err, idle.Exists())
	}

	if err := pod.Destroy(ctx); err != nil {
		t.Fatalf("Destroy pod: %v", err)
	}
	if pod.Exists() {
		t.Errorf("pod slice cgroup %s left behind", pod.Path())
	}
	if load, active := unitState(t, pod); active != "inactive" || load == "loaded" {
		t.Errorf("slice %s left as %s/%s", pod.Unit(), load, active)
	}
}

// The systemd connection is shared by every later call of the hierarchy: the
// end of the context of the call that dialled it must not close it, or a
// job started on it would never report its end.
func TestKernelSystemdConnOutlivesDialContext(t *testing.T) {
	h := realHierarchy(t, MissingError)
	if fi, err := os.Lstat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("needs systemd as PID 1 (the qemu guest)")
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(t.Context())
	conn, err := h.systemdConn().get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(200 * time.Millisecond)
	if !conn.Connected() {
		t.Fatal("the systemd connection closed with the context of the call that dialled it")
	}
	again, err := h.systemdConn().get(t.Context())
	if err != nil || again != conn {
		t.Errorf("second get = %p, %v; want the cached connection %p", again, err, conn)
	}
}

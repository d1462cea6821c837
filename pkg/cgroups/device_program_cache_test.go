package cgroups

import (
	"errors"
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// attachedIDs returns the ids of the device programs on m's cgroup.
func attachedIDs(t *testing.T, m *Manager) []uint32 {
	t.Helper()
	fd, err := m.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	ids, err := attachedDevicePrograms(int(fd.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// applyDeviceRules applies rules to m, skipping the test when the kernel
// cannot attach device programs.
func applyDeviceRules(t *testing.T, m *Manager, rules []specs.LinuxDeviceCgroup) {
	t.Helper()
	if err := m.Apply(&specs.LinuxResources{Devices: rules}); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("needs a kernel with cgroup BPF device programs (CONFIG_CGROUP_BPF) attachable to %s: %v", m.Path(), err)
		}
		t.Fatalf("Apply devices: %v", err)
	}
}

// Cgroups of one hierarchy with the same device rules share one loaded
// program, which the kernel verified once; other rules get their own, and
// applying a cgroup's rules again leaves its program as it is.
func TestKernelDeviceProgramShared(t *testing.T) {
	h := realHierarchy(t, MissingError)
	defer h.Close()
	testCgroup(t, h)
	a, b, c := testCgroup(t, h, "a"), testCgroup(t, h, "b"), testCgroup(t, h, "c")
	denyAll := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	allowZero := append(slices.Clone(denyAll), specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"})
	applyDeviceRules(t, a, allowZero)
	applyDeviceRules(t, b, allowZero)
	applyDeviceRules(t, c, denyAll)
	idA, idB, idC := attachedIDs(t, a), attachedIDs(t, b), attachedIDs(t, c)
	if len(idA) != 1 || !slices.Equal(idA, idB) {
		t.Errorf("the same rules: programs %v and %v, want one shared", idA, idB)
	}
	if len(idC) != 1 || slices.Equal(idA, idC) {
		t.Errorf("other rules: programs %v beside %v, want one of its own", idC, idA)
	}
	applyDeviceRules(t, a, allowZero)
	if got := attachedIDs(t, a); !slices.Equal(got, idA) {
		t.Errorf("the same rules again: programs %v, want %v", got, idA)
	}
	// The shared program enforces the rules in both cgroups.
	for _, m := range []*Manager{a, b} {
		if got := openInCgroup(t, m, "/dev/zero", "/dev/null"); got["/dev/zero"] != "ok" || got["/dev/null"] != "EPERM" {
			t.Errorf("%s: %v, want /dev/zero ok and /dev/null EPERM", m.Path(), got)
		}
	}
}

// The cache keeps the most recently used programs, closes the one it drops
// and everything on Close, and loads without keeping after Close.
func TestKernelDeviceProgramCacheBounded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	// Distinct programs: deny all but one device each.
	program := func(minor int64) []bpfInsn {
		list, err := compileDeviceRules([]specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(minor), Access: "rwm"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return deviceProgram(list)
	}
	var c devicePrograms
	get := func(minor int64) loadedProgram {
		t.Helper()
		p, err := c.get(program(minor))
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(p.fd)
		return p
	}
	first := get(0)
	for minor := range int64(maxCachedDevicePrograms) {
		get(minor)
	}
	if again := get(0); again.id != first.id {
		t.Fatalf("a cached program loaded again: id %d, then %d", first.id, again.id)
	}
	cachedFDs := func() []int {
		var fds []int
		for _, p := range c.byCode {
			fds = append(fds, p.fd)
		}
		return fds
	}
	if n := len(c.byCode); n != maxCachedDevicePrograms {
		t.Fatalf("%d programs cached, want %d", n, maxCachedDevicePrograms)
	}
	// Minor 0 was used last but one: minor 1 is the least recently used.
	dropped := c.byCode[string(encodeProgram(program(1)))]
	get(maxCachedDevicePrograms)
	if _, ok := c.byCode[string(encodeProgram(program(1)))]; ok {
		t.Error("the least recently used program is still cached")
	}
	if _, ok := c.byCode[string(encodeProgram(program(0)))]; !ok {
		t.Error("a recently used program was dropped")
	}
	if id, err := programID(dropped.fd); err == nil && id == dropped.id {
		t.Errorf("the dropped program's descriptor %d is still open", dropped.fd)
	}
	fds := cachedFDs()
	c.close()
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			t.Errorf("descriptor %d open after close", fd)
		}
	}
	if p := get(2); len(c.byCode) != 0 || p.id == 0 {
		t.Errorf("after close: %d cached, id %d", len(c.byCode), p.id)
	}
}

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// usernsMaps is one 65536-id range, as kubelet allots a pod.
func usernsMaps(host uint32) *UserNamespace {
	m := []IDMapping{{ContainerID: 0, HostID: host, Size: 65536}}
	return &UserNamespace{UIDs: m, GIDs: slices.Clone(m)}
}

func usernsSpec(name string) Spec {
	spec := podSpec(name)
	spec.UserNS = usernsMaps(1 << 20)
	spec.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}
	return spec
}

// Every map kubelet could be tricked into sending is refused, naming the
// field, before anything is made.
func TestUserNamespaceMapsRefused(t *testing.T) {
	m := func(c, h, n uint32) IDMapping { return IDMapping{ContainerID: c, HostID: h, Size: n} }
	many := make([]IDMapping, maxIDMappings+1)
	for i := range many {
		many[i] = m(uint32(i), 1<<20+uint32(i), 1)
	}
	good := []IDMapping{m(0, 1<<20, 65536)}
	for _, tc := range []struct {
		name  string
		uids  []IDMapping
		gids  []IDMapping
		field string
	}{
		{"no uid maps", nil, good, "uids"},
		{"no gid maps", good, nil, "gids"},
		{"too many", many, good, "uids"},
		{"empty range", []IDMapping{m(0, 1<<20, 0)}, good, "uids[0].length"},
		{"container ids overflow", []IDMapping{m(0, 1<<20, 1), m(math.MaxUint32-10, 2<<20, 11)}, good, "uids[1]"},
		{"host ids overflow", []IDMapping{m(0, math.MaxUint32-10, 11)}, good, "uids[0]"},
		{"host root mapped", []IDMapping{m(0, 0, 65536)}, good, "uids[0].host_id"},
		{"host root mapped later", good, []IDMapping{m(0, 1<<20, 10), m(10, 0, 10)}, "gids[1].host_id"},
		{"container ranges overlap", []IDMapping{m(0, 1<<20, 100000), m(0, 2<<20, 100000)}, good, "uids[1].container_id"},
		{"host ranges overlap", []IDMapping{m(0, 1<<20, 100), m(100, 1<<20+50, 100)}, good, "uids[1].host_id"},
		{"root not mapped", []IDMapping{m(1, 1<<20, 65536)}, good, "uids"},
	} {
		spec := podSpec("refused")
		spec.UserNS = &UserNamespace{UIDs: tc.uids, GIDs: tc.gids}
		err := ValidateUserNamespace(&spec)
		field := "userns_options." + tc.field + ":"
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want invalid %s", tc.name, err, field)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want error
	}{
		{"host network", func(s *Spec) { s.NetworkMode = ModeNode }, errdefs.ErrInvalidArgument},
		{"host IPC", func(s *Spec) { s.IPCMode = ModeNode }, errdefs.ErrInvalidArgument},
		{"host PID", func(s *Spec) { s.PIDMode = ModeNode }, errdefs.ErrInvalidArgument},
	} {
		spec := podSpec("refused")
		spec.UserNS = usernsMaps(1 << 20)
		tc.edit(&spec)
		if err := ValidateUserNamespace(&spec); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	spec := podSpec("fine")
	spec.UserNS = usernsMaps(1 << 20)
	spec.UserNS.GIDs = []IDMapping{m(0, 1<<20, 1000), m(1000, 3<<20, 64536)}
	if err := ValidateUserNamespace(&spec); err != nil {
		t.Errorf("valid maps refused: %v", err)
	}
}

// userNSOf is the user namespace owning the namespace pinned at path.
func userNSOf(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const nsGetUserns = 0xb701 // NS_GET_USERNS
	fd, err := unix.IoctlRetInt(int(f.Fd()), nsGetUserns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A pod with its own user namespace pins it; its network, IPC and UTS
// namespaces belong to it and are set up (hostname, loopback, sysctls)
// from the daemon, whose threads stay in the host's namespaces; the holder
// process is gone, or, with a shared PID namespace, is the reaper, whose
// PID namespace the pod's user namespace owns too; removal leaves nothing.
func TestUserNamespacePodPins(t *testing.T) {
	e := newEnv(t)
	before := map[string]string{}
	for _, k := range []string{"user", "net", "uts", "ipc"} {
		before[k], _ = os.Readlink("/proc/self/ns/" + k)
	}
	for _, pidMode := range []NamespaceMode{ModeContainer, ModePod} {
		t.Run(string(pidMode), func(t *testing.T) { usernsPodPins(t, e, before, pidMode) })
	}
}

func usernsPodPins(t *testing.T, e *env, before map[string]string, pidMode NamespaceMode) {
	ctx := context.Background()
	spec := usernsSpec("userns")
	spec.PIDMode = pidMode
	sb, err := e.m.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []NamespaceKind{NamespaceNet, NamespaceIPC, NamespaceUTS}
	if pidMode == ModePod {
		kinds = append(kinds, NamespacePID)
		if len(reapers(t, []string{sb.ID})) != 1 {
			t.Error("the pod has no reaper running")
		}
	}
	userPin := sb.Namespaces[NamespaceUser]
	var st unix.Stat_t
	if err := unix.Stat(userPin, &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if got := userNSOf(t, sb.Namespaces[k]); got != st.Ino {
			t.Errorf("%s namespace owned by user:[%d], want the pod's user:[%d]", k, got, st.Ino)
		}
	}
	// From the host, as nsenter would see it: the maps, the hostname, lo up
	// and the sysctl.
	out, err := exec.Command("nsenter", "--user="+userPin, "--net="+sb.Namespaces[NamespaceNet], "--uts="+sb.Namespaces[NamespaceUTS],
		"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ip -o link show lo").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v\n%s", err, out)
	}
	fields := strings.Join(strings.Fields(string(out)), " ")
	for _, want := range []string{fmt.Sprintf("0 %d 65536 0 %d 65536", 1<<20, 1<<20), "userns 80", "UP"} {
		if !strings.Contains(fields, want) {
			t.Errorf("pod namespaces show %q, want %q in it", fields, want)
		}
	}
	for k, host := range before {
		// Every thread of the daemon: one left in a pod's namespace
		// would run other goroutines there.
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			if ns, _ := os.Readlink("/proc/self/task/" + task.Name() + "/ns/" + k); ns != host {
				t.Errorf("daemon thread %s is left in %s, not the host's %s", task.Name(), ns, host)
			}
		}
	}
	if holders := processesNamed(t, "pod-userns"); len(holders) != 0 {
		t.Errorf("namespace holders left: %v", holders)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

// processesNamed lists the pids whose command line contains name.
func processesNamed(t *testing.T, name string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmdline), name) {
			out = append(out, e.Name())
		}
	}
	return out
}

// A daemon that dies at any step of a user-namespaced pod's Run leaves
// nothing once restarted: no pin of the user namespace or of those it
// owns, no holder process.
func TestUserNamespaceCrashAtEveryStepIsUndoneOnRestart(t *testing.T) {
	for _, pidMode := range []NamespaceMode{ModeContainer, ModePod} {
		t.Run(string(pidMode), func(t *testing.T) { crashUserNamespacePod(t, pidMode) })
	}
}

func crashUserNamespacePod(t *testing.T, pidMode NamespaceMode) {
	e := newEnv(t)
	crashed := crashAtEveryRunStep(t, e, func() Spec {
		spec := usernsSpec("crash")
		spec.PIDMode = pidMode
		return spec
	}, func() {
		if holders := processesNamed(t, "pod-userns"); len(holders) != 0 {
			t.Errorf("namespace holders left: %v", holders)
		}
	})
	t.Logf("crashed at steps %s", strings.Join(crashed, ", "))
	if !slices.Contains(crashed, "namespace setup") {
		t.Error("Run never crashed between pinning the user namespace and setting up its namespaces")
	}
	assertNothingLeft(t, e)
}

// A failing setup inside the pod's namespaces (a sysctl the kernel
// refuses) fails Run and unpins everything, the user namespace too.
func TestUserNamespaceFailedSetupLeavesNothing(t *testing.T) {
	e := newEnv(t)
	spec := usernsSpec("badsysctl")
	spec.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "not-a-number"}
	if _, err := e.m.Run(context.Background(), spec); err == nil {
		t.Fatal("Run with a sysctl value the kernel refuses succeeded")
	}
	assertNothingLeft(t, e)
}

// A restarted daemon finds a user-namespaced pod ready, its user namespace
// pinned; one whose user namespace pin is gone is not ready.
func TestUserNamespacePodSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kept, err := e.m.Run(ctx, usernsSpec("kept"))
	if err != nil {
		t.Fatal(err)
	}
	lost, err := e.m.Run(ctx, usernsSpec("lost"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(lost.Namespaces[NamespaceUser], unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	for _, tc := range []struct {
		sb   *Sandbox
		want State
	}{{kept, StateReady}, {lost, StateNotReady}} {
		got, err := e.m.Get(tc.sb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != tc.want {
			t.Errorf("pod %s is %s after a restart, want %s", got.Spec.Metadata.Name, got.State, tc.want)
		}
		if err := e.m.Remove(ctx, tc.sb.ID); err != nil {
			t.Fatal(err)
		}
	}
	assertNothingLeft(t, e)
}

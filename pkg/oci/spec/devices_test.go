package spec

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestBuildDevices(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices []*runtimeapi.Device
		want    []string // "path type major:minor access"
		field   string
	}{
		{"none", nil, nil, ""},
		{"null and zero", []*runtimeapi.Device{
			{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: "rw"},
			{HostPath: "/dev/zero", ContainerPath: "/dev/zero", Permissions: "mrw"},
		}, []string{"/dev/mynull c 1:3 rw", "/dev/zero c 1:5 mrw"}, ""},
		{"empty permissions mean all", []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/null"}}, []string{"/dev/null c 1:3 rwm"}, ""},
		{"bad permissions", []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/null", Permissions: "rx"}}, nil, "devices[0].permissions"},
		{"repeated permission", []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/null", Permissions: "rr"}}, nil, "devices[0].permissions"},
		{"not a device", []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/null"}, {HostPath: "/proc/self/status", ContainerPath: "/dev/x"}}, nil, "devices[1].host_path"},
		{"missing", []*runtimeapi.Device{{HostPath: "/dev/crisp-missing", ContainerPath: "/dev/x"}}, nil, "devices[0].host_path"},
		{"relative host path", []*runtimeapi.Device{{HostPath: "dev/null", ContainerPath: "/dev/x"}}, nil, "devices[0].host_path"},
		{"outside /dev", []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/null"}}, nil, "devices[0].container_path"},
		{"twice", []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/x"}, {HostPath: "/dev/zero", ContainerPath: "/dev/x"}}, nil, "devices[1].container_path"},
		{"nil", []*runtimeapi.Device{nil}, nil, "devices[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			devices, rules, err := buildDevices(tc.devices, false)
			checkFieldError(t, err, tc.field)
			if err != nil {
				return
			}
			checkDevices(t, devices, rules, tc.want)
		})
	}
}

// checkDevices compares devices and their rules, after the deny-all, with
// want.
func checkDevices(t *testing.T, devices []specs.LinuxDevice, rules []specs.LinuxDeviceCgroup, want []string) {
	t.Helper()
	if len(rules) == 0 || rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
		t.Fatalf("rules %+v do not start with deny-all", rules)
	}
	if len(devices) != len(want) || len(rules) != len(want)+1 {
		t.Fatalf("%d devices, %d rules; want %d and %d", len(devices), len(rules), len(want), len(want)+1)
	}
	for i, d := range devices {
		r := rules[i+1]
		got := d.Path + " " + d.Type + " " + itoa(d.Major) + ":" + itoa(d.Minor) + " " + r.Access
		if got != want[i] || !r.Allow || r.Type != d.Type || *r.Major != d.Major || *r.Minor != d.Minor {
			t.Errorf("device %q rule %+v, want %q", got, r, want[i])
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDeviceFromPath(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/dev/null", &st); err != nil {
		t.Fatal(err)
	}
	d, ok, err := deviceFromPath("/dev/null", "/dev/x", os.Stat)
	if err != nil || !ok {
		t.Fatalf("deviceFromPath: %v, %v", ok, err)
	}
	if uint32(*d.FileMode) != st.Mode&0o777 || *d.UID != st.Uid || *d.GID != st.Gid || d.Path != "/dev/x" {
		t.Errorf("device %+v mode %v owner %d:%d, want %s mode %o owner %d:%d", d, *d.FileMode, *d.UID, *d.GID, "/dev/x", st.Mode&0o777, st.Uid, st.Gid)
	}
	if _, ok, err := deviceFromPath("/proc/self/status", "/dev/x", os.Stat); ok || err != nil {
		t.Errorf("a regular file is a device (%v, %v)", ok, err)
	}
}

// TestBuildDevicesDirectory adds every device below a directory.
func TestBuildDevicesDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make device nodes")
	}
	dir := t.TempDir()
	for _, d := range []string{"sub", "pts"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, dev := range map[string]uint64{"a": unix.Mkdev(1, 3), "sub/b": unix.Mkdev(1, 5), "pts/0": unix.Mkdev(136, 0)} {
		if err := unix.Mknod(filepath.Join(dir, path), unix.S_IFCHR|0o600, int(dev)); err != nil {
			t.Fatalf("mknod: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	devices, rules, err := buildDevices([]*runtimeapi.Device{{HostPath: dir, ContainerPath: "/dev/grp", Permissions: "r"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	checkDevices(t, devices, rules, []string{"/dev/grp/a c 1:3 r", "/dev/grp/sub/b c 1:5 r"})
}

func TestBuildDevicesPrivileged(t *testing.T) {
	devices, rules, err := buildDevices([]*runtimeapi.Device{{HostPath: "/dev/zero", ContainerPath: "/dev/null"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || !rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" || rules[0].Major != nil {
		t.Errorf("rules %+v, want allow-all", rules)
	}
	seen := map[string]specs.LinuxDevice{}
	for _, d := range devices {
		if _, dup := seen[d.Path]; dup {
			t.Errorf("%s listed twice", d.Path)
		}
		seen[d.Path] = d
	}
	if d := seen["/dev/null"]; d.Minor != 5 {
		t.Errorf("/dev/null is %d:%d, want the config's /dev/zero (1:5)", d.Major, d.Minor)
	}
	if _, ok := seen["/dev/full"]; !ok {
		t.Errorf("host's /dev/full missing from %d devices", len(devices))
	}
	for _, skip := range []string{"/dev/ptmx", "/dev/console", "/dev/pts/ptmx"} {
		if _, ok := seen[skip]; ok {
			t.Errorf("%s copied from the host", skip)
		}
	}
}

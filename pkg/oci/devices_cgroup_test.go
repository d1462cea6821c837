package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func devNum(v int64) *int64 { return &v }

// openProbe is a shell function for the test containers: "probe DEV"
// prints "DEV opened" when DEV opens for reading, else the shell's error.
const openProbe = `probe() { if true <"$1"; then echo "$1 opened"; fi; }
`

// checkOpens checks the output of probes: each device of opened was opened,
// each of refused was refused with EPERM.
func checkOpens(t *testing.T, out string, opened, refused []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for _, dev := range opened {
		if !slices.Contains(lines, dev+" opened") {
			t.Errorf("%s did not open; output:\n%s", dev, out)
		}
	}
	for _, dev := range refused {
		eperm := slices.ContainsFunc(lines, func(l string) bool {
			return strings.Contains(l, dev) && strings.HasSuffix(l, "Operation not permitted")
		})
		if slices.Contains(lines, dev+" opened") || !eperm {
			t.Errorf("%s was not refused with EPERM; output:\n%s", dev, out)
		}
	}
}

// TestDeviceCgroupRules runs containers with /dev/kmsg (c 1:11) in
// linux.devices under several linux.resources.devices: the node exists in
// each, but as with runc only a rule of the spec lets it open, while the
// standard devices (/dev/zero here) are allowed after the spec's rules
// whatever they say.
func TestDeviceCgroupRules(t *testing.T) {
	script := openProbe + "probe /dev/kmsg; probe /dev/zero"
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		kmsg  bool
	}{
		// runc's tests/integration/dev.bats "device cgroup deny": a node
		// of linux.devices is not allowed by being listed.
		{"deny all", []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, false},
		// No rules at all still means deny-all plus the standard devices
		// (runc's "use default allowed devices when linux resources is null").
		{"no rules", nil, false},
		{"allowed by a rule", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: devNum(1), Minor: devNum(11), Access: "r"},
		}, true},
		{"allow all", []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, true},
		{"standard devices outrank the spec", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: false, Type: "c", Major: devNum(1), Minor: devNum(5), Access: "rwm"},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newTestRuntime(t)
			spec := testSpec(t, "sh", "-c", script)
			spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11}}
			spec.Linux.Resources = nil
			if tt.rules != nil {
				spec.Linux.Resources = &specs.LinuxResources{Devices: tt.rules}
			}
			out, st := runToExit(t, rt, spec)
			if st.Code != 0 {
				t.Fatalf("exit %+v, output:\n%s", st, out)
			}
			if tt.kmsg {
				checkOpens(t, out, []string{"/dev/kmsg", "/dev/zero"}, nil)
			} else {
				checkOpens(t, out, []string{"/dev/zero"}, []string{"/dev/kmsg"})
			}
		})
	}
}

// TestExampleDeviceRules runs a container with the device rules of `crisp
// oci spec` (deny-all, then runc's standard devices): it reads and writes
// its standard devices and opens a pseudo-terminal, may mknod any node, but
// cannot open a node of a host device, here the disk of the host's root
// file system, /dev/kmsg and /dev/mem.
func TestExampleDeviceRules(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	major, minor := unix.Major(st.Dev), unix.Minor(st.Dev)
	if major == 0 {
		t.Skip("needs the root file system on a block device, to mknod its disk in the container")
	}
	rt := newTestRuntime(t)
	spec := testSpec(t, "sh", "-c", openProbe+fmt.Sprintf(`
		head -c 4 /dev/zero | wc -c
		echo x >/dev/null && echo "/dev/null written"
		for d in full random urandom ptmx; do probe /dev/$d; done
		mknod /dev/hostdisk b %d %d || echo "mknod failed"
		mknod /dev/hostkmsg c 1 11 || echo "mknod failed"
		mknod /dev/hostmem c 1 1 || echo "mknod failed"
		for d in hostdisk hostkmsg hostmem; do probe /dev/$d; done`, major, minor))
	if !reflect.DeepEqual(spec.Linux.Resources, Example().Linux.Resources) {
		t.Fatalf("test spec resources %+v differ from Example's", spec.Linux.Resources)
	}
	out, exit := runToExit(t, rt, spec)
	if exit.Code != 0 {
		t.Fatalf("exit %+v, output:\n%s", exit, out)
	}
	if !strings.HasPrefix(out, "4\n/dev/null written\n") || strings.Contains(out, "mknod failed") {
		t.Errorf("standard devices or mknod refused; output:\n%s", out)
	}
	checkOpens(t, out, []string{"/dev/full", "/dev/random", "/dev/urandom", "/dev/ptmx"},
		[]string{"/dev/hostdisk", "/dev/hostkmsg", "/dev/hostmem"})
}

// TestDeviceCgroupRulesInvalid checks that rule sets crisp cannot enforce
// fail the create with an invalid argument naming the field, leaving no
// state directory and no cgroup behind.
func TestDeviceCgroupRulesInvalid(t *testing.T) {
	rt := newTestRuntime(t)
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{"empty access", []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: devNum(1), Minor: devNum(5)}}, "linux.resources.devices[1].access"},
		{"pipe type", []specs.LinuxDeviceCgroup{{Allow: true, Type: "p", Access: "rwm"}}, "linux.resources.devices[0].type"},
		// A deny inside an earlier wildcard allow, which cgroup v1
		// silently ignores, is refused rather than half enforced.
		{"hole in wildcard", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: devNum(1), Access: "rwm"},
			{Allow: false, Type: "c", Major: devNum(1), Minor: devNum(3), Access: "rwm"},
		}, "linux.resources.devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(t, "true")
			spec.Linux.Resources = &specs.LinuxResources{Devices: tt.rules}
			err := rt.Create(context.Background(), "baddev", writeBundle(t, spec), CreateOptions{})
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("create error %v, want an invalid argument naming %s", err, tt.want)
			}
			if _, err := os.Stat(rt.dir("baddev")); !os.IsNotExist(err) {
				t.Errorf("state directory left behind (%v)", err)
			}
			if _, err := os.Stat(filepath.Join(rt.cgroupMount, spec.Linux.CgroupsPath)); !os.IsNotExist(err) {
				t.Errorf("cgroup left behind (%v)", err)
			}
		})
	}
}

// TestUpdateDeviceRules updates the device rules of a running container:
// the new rules apply, and the standard devices stay allowed after them as
// at create.
func TestUpdateDeviceRules(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	spec := testSpec(t, "sleep", "100")
	spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11}}
	spec.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	startContainer(t, rt, "devupdate", spec)
	probe := func() string {
		t.Helper()
		out := newOutputPipe(t)
		proc := &specs.Process{Args: []string{"sh", "-c", openProbe + "probe /dev/kmsg; probe /dev/zero"}, Env: []string{"PATH=/bin"}, Cwd: "/"}
		p, err := rt.Exec(ctx, "devupdate", proc, ExecOptions{Stdout: out.w, Stderr: out.w})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		return out.text(t)
	}
	checkOpens(t, probe(), []string{"/dev/zero"}, []string{"/dev/kmsg"})
	err := rt.Update(ctx, "devupdate", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: devNum(1), Minor: devNum(11), Access: "r"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkOpens(t, probe(), []string{"/dev/kmsg", "/dev/zero"}, nil)
}

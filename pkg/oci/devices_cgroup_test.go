package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func devNum(v int64) *int64 { return &v }

// TestDeviceCgroupRules runs containers whose linux.resources.devices deny
// /dev/null (c 1:3) and allow /dev/zero (c 1:5): the kernel must refuse to
// open /dev/null inside the container although the node exists there.
func TestDeviceCgroupRules(t *testing.T) {
	script := `
		if echo x > /dev/null; then echo null-opened; fi
		head -c 4 /dev/zero | wc -c`
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
	}{
		{
			// runc's and containerd's defaults: mknod allowed for any
			// node, open only for listed devices.
			name: "mknod allowed",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Access: "m"},
				{Allow: true, Type: "b", Access: "m"},
				{Allow: true, Type: "c", Major: devNum(1), Minor: devNum(5), Access: "rwm"},
				{Allow: true, Type: "c", Major: devNum(136), Access: "rwm"},
				{Allow: true, Type: "c", Major: devNum(5), Minor: devNum(2), Access: "rwm"},
			},
		},
		{
			// /dev/null cannot even be created: the executor falls back
			// to bind mounting the host's node, which stays unopenable.
			name: "mknod denied",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: devNum(1), Minor: devNum(5), Access: "rwm"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newTestRuntime(t)
			spec := testSpec(t, "sh", "-c", script)
			spec.Linux.Resources = &specs.LinuxResources{Devices: tt.rules}
			out, st := runToExit(t, rt, spec)
			if st.Code != 0 {
				t.Fatalf("exit %+v, output:\n%s", st, out)
			}
			if strings.Contains(out, "null-opened") || !strings.Contains(out, "/dev/null: Operation not permitted") {
				t.Errorf("/dev/null was not refused with EPERM; output:\n%s", out)
			}
			if !strings.HasSuffix(out, "4\n") {
				t.Errorf("/dev/zero was not readable; output:\n%s", out)
			}
		})
	}
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

package cgroups

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func i64(v int64) *int64 { return &v }

func TestDeviceRulesConversion(t *testing.T) {
	tests := []struct {
		name string
		in   specs.LinuxDeviceCgroup
		want deviceRule
	}{
		{
			name: "deny all",
			in:   specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"},
			want: deviceRule{typ: 'a', major: -1, minor: -1, access: unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD, allow: false},
		},
		{
			name: "explicit a type",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "a", Access: "r"},
			want: deviceRule{typ: 'a', major: -1, minor: -1, access: unix.BPF_DEVCG_ACC_READ, allow: true},
		},
		{
			name: "one char device",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rw"},
			want: deviceRule{typ: 'c', major: 1, minor: 5, access: unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE, allow: true},
		},
		{
			name: "unbuffered char is char",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "u", Major: i64(4), Minor: i64(0), Access: "m"},
			want: deviceRule{typ: 'c', major: 4, minor: 0, access: unix.BPF_DEVCG_ACC_MKNOD, allow: true},
		},
		{
			name: "block major wildcard minor",
			in:   specs.LinuxDeviceCgroup{Allow: false, Type: "b", Major: i64(8), Access: "w"},
			want: deviceRule{typ: 'b', major: 8, minor: -1, access: unix.BPF_DEVCG_ACC_WRITE, allow: false},
		},
		{
			name: "minus one is any",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(-1), Minor: i64(-1), Access: "m"},
			want: deviceRule{typ: 'c', major: -1, minor: -1, access: unix.BPF_DEVCG_ACC_MKNOD, allow: true},
		},
		{
			name: "largest numbers",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(4294967295), Minor: i64(0), Access: "mrw"},
			want: deviceRule{typ: 'c', major: 4294967295, minor: 0, access: unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD, allow: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deviceRules([]specs.LinuxDeviceCgroup{tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("deviceRules(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDeviceRulesRejectBadFields(t *testing.T) {
	ok := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	tests := []struct {
		name  string
		rule  specs.LinuxDeviceCgroup
		field string
	}{
		{"pipe type", specs.LinuxDeviceCgroup{Type: "p", Access: "rwm"}, "linux.resources.devices[1].type"},
		{"unknown type", specs.LinuxDeviceCgroup{Type: "x", Access: "rwm"}, "linux.resources.devices[1].type"},
		{"empty access", specs.LinuxDeviceCgroup{Type: "c", Major: i64(1), Minor: i64(3)}, "linux.resources.devices[1].access"},
		{"unknown access", specs.LinuxDeviceCgroup{Type: "c", Access: "rx"}, "linux.resources.devices[1].access"},
		{"negative major", specs.LinuxDeviceCgroup{Type: "c", Major: i64(-2), Access: "r"}, "linux.resources.devices[1].major"},
		{"huge minor", specs.LinuxDeviceCgroup{Type: "b", Major: i64(8), Minor: i64(1 << 32), Access: "r"}, "linux.resources.devices[1].minor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{ok, tt.rule}}
			err := ValidateResources(res)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ValidateResources = %v, want an invalid argument error", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
		})
	}
}

// TestApplyDevicesRefusesHolePunching checks that a rule set the generator
// refuses (a deny inside an earlier wildcard allow, which cgroup v1 would
// silently ignore) is reported as invalid before anything is attached.
func TestApplyDevicesRefusesHolePunching(t *testing.T) {
	m := &Manager{dir: t.TempDir()}
	err := m.applyDevices([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Access: "rwm"},
		{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "r"},
	})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), devicesField) {
		t.Fatalf("applyDevices = %v, want an invalid argument error naming %s", err, devicesField)
	}
}

func TestApplyDevicesMissingCgroup(t *testing.T) {
	m := &Manager{dir: t.TempDir() + "/gone"}
	err := m.applyDevices([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("applyDevices = %v, want not found", err)
	}
}

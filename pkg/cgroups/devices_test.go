package cgroups

import (
	"errors"
	"strings"
	"testing"

	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func i64(v int64) *int64 { return &v }

func TestDeviceRulesConversion(t *testing.T) {
	tests := []struct {
		name string
		in   specs.LinuxDeviceCgroup
		want devconfig.Rule
	}{
		{
			name: "deny all",
			in:   specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"},
			want: devconfig.Rule{Type: 'a', Major: -1, Minor: -1, Permissions: "rwm"},
		},
		{
			name: "explicit a type",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "a", Access: "r"},
			want: devconfig.Rule{Type: 'a', Major: -1, Minor: -1, Permissions: "r", Allow: true},
		},
		{
			name: "one char device",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rw"},
			want: devconfig.Rule{Type: 'c', Major: 1, Minor: 5, Permissions: "rw", Allow: true},
		},
		{
			name: "unbuffered char is char",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "u", Major: i64(4), Minor: i64(0), Access: "m"},
			want: devconfig.Rule{Type: 'c', Major: 4, Minor: 0, Permissions: "m", Allow: true},
		},
		{
			name: "block major wildcard minor",
			in:   specs.LinuxDeviceCgroup{Allow: false, Type: "b", Major: i64(8), Access: "w"},
			want: devconfig.Rule{Type: 'b', Major: 8, Minor: -1, Permissions: "w"},
		},
		{
			name: "minus one is any",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(-1), Minor: i64(-1), Access: "m"},
			want: devconfig.Rule{Type: 'c', Major: -1, Minor: -1, Permissions: "m", Allow: true},
		},
		{
			name: "largest numbers",
			in:   specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(4294967295), Minor: i64(0), Access: "mrw"},
			want: devconfig.Rule{Type: 'c', Major: 4294967295, Minor: 0, Permissions: "mrw", Allow: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deviceRules([]specs.LinuxDeviceCgroup{tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || *got[0] != tt.want {
				t.Errorf("deviceRules(%+v) = %+v, want %+v", tt.in, *got[0], tt.want)
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

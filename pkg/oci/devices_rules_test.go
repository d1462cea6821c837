package oci

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ruleString writes a device rule the way devices.list does, with its
// verdict: "c 1:3 rwm allow".
func ruleString(r specs.LinuxDeviceCgroup) string {
	num := func(n *int64) string {
		if n == nil {
			return "*"
		}
		return fmt.Sprint(*n)
	}
	typ, verdict := r.Type, "deny"
	if typ == "" {
		typ = "a"
	}
	if r.Allow {
		verdict = "allow"
	}
	return fmt.Sprintf("%s %s:%s %s %s", typ, num(r.Major), num(r.Minor), r.Access, verdict)
}

func ruleStrings(rules []specs.LinuxDeviceCgroup) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = ruleString(r)
	}
	return out
}

// runcDefaults is runc's AllowedDevices, in its order.
var runcDefaults = []string{
	"c *:* m allow",
	"b *:* m allow",
	"c 1:3 rwm allow",
	"c 1:8 rwm allow",
	"c 1:7 rwm allow",
	"c 5:0 rwm allow",
	"c 1:5 rwm allow",
	"c 1:9 rwm allow",
	"c 136:* rwm allow",
	"c 5:2 rwm allow",
}

// without returns runcDefaults less the given rules.
func without(drop ...string) []string {
	var out []string
	for _, r := range runcDefaults {
		keep := true
		for _, d := range drop {
			keep = keep && r != d
		}
		if keep {
			out = append(out, r)
		}
	}
	return out
}

func TestCgroupResourcesDeviceRules(t *testing.T) {
	pids := int64(7)
	tests := []struct {
		name  string
		linux *specs.Linux
		want  []string
	}{
		{"no linux section", nil, runcDefaults},
		{"no resources", &specs.Linux{}, runcDefaults},
		{"resources without device rules", &specs.Linux{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}}, runcDefaults},
		{"deny all", Example().Linux, append([]string{"a *:* rwm deny"}, runcDefaults...)},
		{
			"spec rules first, in order",
			&specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: devNum(10), Minor: devNum(200), Access: "rw"},
				{Allow: false, Type: "c", Major: devNum(1), Minor: devNum(3), Access: "w"},
			}}},
			append([]string{"a *:* rwm deny", "c 10:200 rw allow", "c 1:3 w deny"}, runcDefaults...),
		},
		{
			// The spec's node replaces the standard one, and like runc
			// crisp does not allow linux.devices by itself.
			"linux.devices replace standard nodes",
			&specs.Linux{
				Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
				Devices: []specs.LinuxDevice{
					{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
					{Path: "/dev//null", Type: "c", Major: 1, Minor: 3},
					{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11},
				},
			},
			append([]string{"a *:* rwm deny"}, without("c 5:0 rwm allow", "c 1:3 rwm allow")...),
		},
		{
			// /dev/pts and /dev/ptmx have no path in runc's list: they
			// stay whatever linux.devices says.
			"pseudo-terminal rules always stay",
			&specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/ptmx", Type: "c", Major: 5, Minor: 2}}},
			runcDefaults,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &specs.Spec{Linux: tt.linux}
			got := cgroupResources(spec)
			if rules := ruleStrings(got.Devices); !reflect.DeepEqual(rules, tt.want) {
				t.Errorf("device rules\n got %q\nwant %q", rules, tt.want)
			}
			if tt.linux != nil && tt.linux.Resources != nil && tt.linux.Resources.Pids != got.Pids {
				t.Errorf("pids %v not carried over from %v", got.Pids, tt.linux.Resources.Pids)
			}
		})
	}
}

// TestCgroupResourcesLeavesSpecAlone checks that the spec, which is saved in
// state.json, keeps its own rules, and that two results share nothing the
// caller could change.
func TestCgroupResourcesLeavesSpecAlone(t *testing.T) {
	spec := Example()
	spec.Linux.Resources.Devices = append(make([]specs.LinuxDeviceCgroup, 0, 8), spec.Linux.Resources.Devices...)
	before, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	first := cgroupResources(spec)
	first.Devices[0].Access = "m"
	*first.Devices[len(first.Devices)-1].Major = 99
	after, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("spec changed:\n%s\nbecame\n%s", before, after)
	}
	if rules := ruleStrings(cgroupResources(spec).Devices); !reflect.DeepEqual(rules, append([]string{"a *:* rwm deny"}, runcDefaults...)) {
		t.Errorf("a caller's change leaked into the next result: %q", rules)
	}
}

// TestExampleDeniesAllDevices checks that `crisp oci spec` writes runc's
// deny-all, so the default container reaches only its standard devices.
func TestExampleDeniesAllDevices(t *testing.T) {
	res := Example().Linux.Resources
	if res == nil {
		t.Fatal("Example has no linux.resources")
	}
	if rules := ruleStrings(res.Devices); !reflect.DeepEqual(rules, []string{"a *:* rwm deny"}) {
		t.Errorf("Example device rules %q, want runc's [a *:* rwm deny]", rules)
	}
}

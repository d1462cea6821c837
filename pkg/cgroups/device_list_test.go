package cgroups

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	accR = unix.BPF_DEVCG_ACC_READ
	accW = unix.BPF_DEVCG_ACC_WRITE
	accM = unix.BPF_DEVCG_ACC_MKNOD
)

// deviceAccess is one question the kernel asks a device program.
type deviceAccess struct {
	typ          byte
	major, minor int64
	access       uint32
}

// The device list decides as cgroup v1 did after the same rules.
func TestDeviceListPermits(t *testing.T) {
	tests := []struct {
		name    string
		rules   []specs.LinuxDeviceCgroup
		allowed []deviceAccess
		denied  []deviceAccess
	}{
		{
			name:   "no rules deny everything",
			denied: []deviceAccess{{'c', 1, 3, accR}, {'b', 8, 0, accM}},
		},
		{
			name:    "allow all",
			rules:   []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}},
			allowed: []deviceAccess{{'c', 1, 3, accR | accW | accM}, {'b', 8, 0, accR}},
		},
		{
			name: "deny all, then one device read-only",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "r"},
			},
			allowed: []deviceAccess{{'c', 1, 3, accR}},
			denied:  []deviceAccess{{'c', 1, 3, accR | accW}, {'c', 1, 3, accM}, {'b', 1, 3, accR}, {'c', 1, 5, accR}},
		},
		{
			name: "one exception must grant every access asked for",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: i64(1), Access: "r"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "w"},
			},
			allowed: []deviceAccess{{'c', 1, 3, accR}, {'c', 1, 3, accW}, {'c', 1, 9, accR}},
			denied:  []deviceAccess{{'c', 1, 3, accR | accW}, {'c', 1, 9, accW}},
		},
		{
			name: "wildcard numbers",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Minor: i64(0), Access: "m"},
				{Allow: true, Type: "b", Major: i64(8), Access: "rw"},
			},
			allowed: []deviceAccess{{'c', 136, 0, accM}, {'b', 8, 17, accR | accW}},
			denied:  []deviceAccess{{'c', 136, 1, accM}, {'b', 9, 0, accR}, {'c', 8, 17, accR}},
		},
		{
			name: "allow all, then deny exceptions, any access they name",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: true, Access: "rwm"},
				{Allow: false, Type: "c", Major: i64(1), Minor: i64(1), Access: "w"},
				{Allow: false, Type: "b", Access: "rwm"},
			},
			allowed: []deviceAccess{{'c', 1, 1, accR}, {'c', 1, 3, accR | accW}},
			denied:  []deviceAccess{{'c', 1, 1, accW}, {'c', 1, 1, accR | accW}, {'b', 8, 0, accR}},
		},
		{
			name: "an allow takes accesses out of a deny exception",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: true, Access: "rwm"},
				{Allow: false, Type: "c", Major: i64(1), Minor: i64(1), Access: "rw"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(1), Access: "r"},
			},
			allowed: []deviceAccess{{'c', 1, 1, accR}},
			denied:  []deviceAccess{{'c', 1, 1, accW}},
		},
		{
			name: "a later wildcard rule resets the list",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
			},
			allowed: []deviceAccess{{'c', 1, 5, accR}},
			denied:  []deviceAccess{{'c', 1, 3, accR}},
		},
		{
			name: "numbers past 2^31",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: i64(4294967295), Minor: i64(2147483648), Access: "r"},
			},
			allowed: []deviceAccess{{'c', 4294967295, 2147483648, accR}},
			denied:  []deviceAccess{{'c', 4294967295, 0, accR}, {'c', 2147483647, 2147483648, accR}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := compileDeviceRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.allowed {
				if !list.permits(a.typ, a.major, a.minor, a.access) {
					t.Errorf("%+v denied, want allowed", a)
				}
			}
			for _, a := range tt.denied {
				if list.permits(a.typ, a.major, a.minor, a.access) {
					t.Errorf("%+v allowed, want denied", a)
				}
			}
		})
	}
}

// A rule that takes accesses out of part of a wider exception is refused,
// naming the rule, in either default; taking them out of the same
// exception, or an unrelated one, is not.
func TestDeviceListRefusesHoles(t *testing.T) {
	for _, rules := range [][]specs.LinuxDeviceCgroup{
		{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "r"},
		},
		{
			{Allow: true, Access: "rwm"},
			{Allow: false, Type: "b", Access: "w"},
			{Allow: true, Type: "b", Major: i64(8), Minor: i64(0), Access: "rw"},
		},
		{
			{Allow: true, Type: "c", Minor: i64(1), Access: "m"},
			{Allow: false, Type: "c", Major: i64(5), Minor: i64(1), Access: "m"},
		},
	} {
		_, err := compileDeviceRules(rules)
		want := devicesField + "[" + string(rune('0'+len(rules)-1)) + "]"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rules %+v: %v, want refused naming %s", rules, err, want)
		}
	}
	for _, rules := range [][]specs.LinuxDeviceCgroup{
		{
			{Allow: true, Type: "c", Major: i64(1), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64(1), Access: "w"},
		},
		{
			{Allow: true, Type: "c", Major: i64(1), Access: "rwm"},
			{Allow: false, Type: "b", Major: i64(1), Minor: i64(3), Access: "rwm"},
		},
		{
			{Allow: true, Type: "c", Major: i64(1), Access: "r"},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "w"},
		},
	} {
		if _, err := compileDeviceRules(rules); err != nil {
			t.Errorf("rules %+v: %v, want accepted", rules, err)
		}
	}
}

// Too many rules are refused before a program is made of them.
func TestDeviceRulesBounded(t *testing.T) {
	rules := make([]specs.LinuxDeviceCgroup, maxDeviceRules+1)
	for i := range rules {
		rules[i] = specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(int64(i)), Access: "r"}
	}
	if _, err := compileDeviceRules(rules); err == nil || !strings.Contains(err.Error(), devicesField) {
		t.Errorf("%d rules: %v, want refused naming %s", len(rules), err, devicesField)
	}
	if _, err := compileDeviceRules(rules[:maxDeviceRules]); err != nil {
		t.Errorf("%d rules: %v", maxDeviceRules, err)
	}
}

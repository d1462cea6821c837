package oci

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// standardDeviceRule is a device rule every container gets after its spec's
// own rules. path names the node the rule exists for, empty for the rules
// that cover no single node (mknod of anything, the pseudo-terminals).
type standardDeviceRule struct {
	path string
	rule specs.LinuxDeviceCgroup
}

// standardDeviceRules returns runc's default allowed devices
// (libcontainer/specconv AllowedDevices) in runc's order: mknod of any
// character or block node, the standard character devices, the
// pseudo-terminal slaves of /dev/pts and /dev/ptmx. It builds a new slice
// each time, so no caller can alter another's rules through the pointers.
func standardDeviceRules() []standardDeviceRule {
	num := func(n int64) *int64 { return &n }
	allow := func(path, typ string, major, minor *int64, access string) standardDeviceRule {
		return standardDeviceRule{path: path, rule: specs.LinuxDeviceCgroup{
			Allow: true, Type: typ, Major: major, Minor: minor, Access: access,
		}}
	}
	return []standardDeviceRule{
		// mknod is allowed for any node: opening it still needs a rule.
		allow("", "c", nil, nil, "m"),
		allow("", "b", nil, nil, "m"),
		allow("/dev/null", "c", num(1), num(3), "rwm"),
		allow("/dev/random", "c", num(1), num(8), "rwm"),
		allow("/dev/full", "c", num(1), num(7), "rwm"),
		allow("/dev/tty", "c", num(5), num(0), "rwm"),
		allow("/dev/zero", "c", num(1), num(5), "rwm"),
		allow("/dev/urandom", "c", num(1), num(9), "rwm"),
		allow("", "c", num(136), nil, "rwm"),  // /dev/pts/*
		allow("", "c", num(5), num(2), "rwm"), // /dev/ptmx
	}
}

// cgroupResources returns the resources to apply to the cgroup of a
// container made from spec: a copy of linux.resources whose device rules are
// the spec's, in order, followed by the standard devices. This is what runc
// does (libcontainer/specconv CreateCgroupConfig), and crisp oci is runc
// compatible: a container can always use its own standard devices, so the
// deny-all that confines it to them must come from the spec (`crisp oci
// spec` writes one, like `runc spec`). Like runc:
//
//   - the standard devices are appended even when the spec has no device
//     rules or no linux.resources at all;
//   - a standard device whose path linux.devices also lists is left out (the
//     spec's node takes its place), and the nodes of linux.devices get no
//     rule of their own: the spec allows them in linux.resources.devices.
//
// The spec is not modified (it is saved in state.json as written); the copy
// is shallow apart from the device rules.
func cgroupResources(spec *specs.Spec) *specs.LinuxResources {
	var res specs.LinuxResources
	var nodes []specs.LinuxDevice
	if spec.Linux != nil {
		if spec.Linux.Resources != nil {
			res = *spec.Linux.Resources
		}
		nodes = spec.Linux.Devices
	}
	standard := standardDeviceRules()
	rules := make([]specs.LinuxDeviceCgroup, 0, len(res.Devices)+len(standard))
	rules = append(rules, res.Devices...)
	for _, s := range standard {
		if s.path == "" || !listsNode(nodes, s.path) {
			rules = append(rules, s.rule)
		}
	}
	res.Devices = rules
	return &res
}

// listsNode reports whether nodes has a device at path.
func listsNode(nodes []specs.LinuxDevice, path string) bool {
	for _, d := range nodes {
		if filepath.Clean(d.Path) == path {
			return true
		}
	}
	return false
}

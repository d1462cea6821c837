package cgroups

import (
	"fmt"
	"math"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// devicesField names the OCI device rules in errors.
const devicesField = resourcesField + ".devices"

// cgroup v2 has no devices controller: the kernel asks a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup whether a
// process may mknod or open a device node. crisp evaluates the OCI rules in
// order as cgroup v1's device list did, as runc does (deviceList), compiles
// the resulting list into that program (deviceProgram) and attaches it
// with bpf(2) (attachDeviceProgram). crisp writes the program itself rather
// than through runc's library: the library brings cilium/ebpf, runc's
// cgroup v1 managers and a D-Bus client into every crisp-oci process,
// whose start-up they would slow by milliseconds.

// deviceRule is one OCI device rule, checked.
type deviceRule struct {
	// typ is 'a' (all), 'c' or 'b'.
	typ byte
	// major and minor are the numbers, or anyDevice.
	major, minor int64
	// access is the set of BPF_DEVCG_ACC_* bits: mknod, read, write.
	access uint32
	allow  bool
}

// anyDevice is a wildcard major or minor number.
const anyDevice = -1

// maxDeviceRules bounds the rules of a container: its program grows with
// them, and the kernel's verifier takes longer with each (about a tenth
// of a second for this many distinct exceptions) and refuses a program of
// a few thousand. Kubernetes gives a privileged container one rule and
// another a few dozen.
const maxDeviceRules = 512

// applyDevices replaces the device program of the cgroup by one enforcing
// rules. The replacement is atomic where the kernel supports
// BPF_F_REPLACE, so a live update never leaves the cgroup without a filter.
func (m *Manager) applyDevices(rules []specs.LinuxDeviceCgroup) error {
	list, err := compileDeviceRules(rules)
	if err != nil {
		return err
	}
	if !m.Exists() {
		return fmt.Errorf("apply %s: cgroup %s: %w", devicesField, m.dir, errdefs.ErrNotFound)
	}
	prog, err := m.h.devicePrograms.get(deviceProgram(list))
	if err != nil {
		return fmt.Errorf("device filter for cgroup %s (needs CONFIG_CGROUP_BPF and CAP_SYS_ADMIN): %w", m.dir, err)
	}
	defer unix.Close(prog.fd)
	if err := attachDeviceProgram(m.dir, prog); err != nil {
		return fmt.Errorf("attach device filter to cgroup %s (needs CONFIG_CGROUP_BPF and CAP_SYS_ADMIN): %w", m.dir, err)
	}
	return nil
}

// compileDeviceRules checks rules and evaluates them into the device list
// they leave, refusing a rule cgroup v1 could not have enforced.
func compileDeviceRules(rules []specs.LinuxDeviceCgroup) (*deviceList, error) {
	converted, err := deviceRules(rules)
	if err != nil {
		return nil, err
	}
	list := &deviceList{}
	for i, r := range converted {
		if err := list.apply(r); err != nil {
			return nil, errdefs.InvalidField(fmt.Sprintf("%s[%d]", devicesField, i), err.Error())
		}
	}
	return list, nil
}

// deviceRules converts OCI device rules, checking each field.
func deviceRules(rules []specs.LinuxDeviceCgroup) ([]deviceRule, error) {
	if len(rules) > maxDeviceRules {
		return nil, errdefs.InvalidField(devicesField, fmt.Sprintf("%d rules are more than %d", len(rules), maxDeviceRules))
	}
	out := make([]deviceRule, 0, len(rules))
	for i, r := range rules {
		field := fmt.Sprintf("%s[%d]", devicesField, i)
		rule := deviceRule{typ: 'a', major: anyDevice, minor: anyDevice, allow: r.Allow}
		switch r.Type {
		case "", "a":
		case "c", "u":
			rule.typ = 'c'
		case "b":
			rule.typ = 'b'
		default:
			return nil, errdefs.InvalidField(field+".type", fmt.Sprintf("%q is not one of a, c, b", r.Type))
		}
		var err error
		if rule.major, err = deviceNumber(r.Major); err != nil {
			return nil, errdefs.InvalidField(field+".major", err.Error())
		}
		if rule.minor, err = deviceNumber(r.Minor); err != nil {
			return nil, errdefs.InvalidField(field+".minor", err.Error())
		}
		if r.Access == "" || strings.Trim(r.Access, "rwm") != "" {
			return nil, errdefs.InvalidField(field+".access", fmt.Sprintf("%q is not a combination of r, w and m", r.Access))
		}
		for _, c := range r.Access {
			switch c {
			case 'r':
				rule.access |= unix.BPF_DEVCG_ACC_READ
			case 'w':
				rule.access |= unix.BPF_DEVCG_ACC_WRITE
			case 'm':
				rule.access |= unix.BPF_DEVCG_ACC_MKNOD
			}
		}
		out = append(out, rule)
	}
	return out, nil
}

// deviceNumber returns the major or minor number n, or anyDevice when n is
// unset or -1 (the value runc's spec conversion uses for "any").
func deviceNumber(n *int64) (int64, error) {
	switch {
	case n == nil || *n == anyDevice:
		return anyDevice, nil
	case *n < 0 || *n > math.MaxUint32:
		return 0, fmt.Errorf("%d is outside 0..%d", *n, uint32(math.MaxUint32))
	}
	return *n, nil
}

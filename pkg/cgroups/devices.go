package cgroups

import (
	"errors"
	"fmt"
	"math"
	"strings"

	occgroups "github.com/opencontainers/cgroups"
	// Imported for its side effect: it installs occgroups.DevicesSetV2,
	// runc's generator and loader of the cgroup v2 device BPF program.
	_ "github.com/opencontainers/cgroups/devices"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// devicesField names the OCI device rules in errors.
const devicesField = resourcesField + ".devices"

// cgroup v2 has no devices controller: the kernel asks a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup whether a
// process may mknod or open a device node. crisp generates and attaches that
// program with runc's own code (github.com/opencontainers/cgroups/devices),
// so the semantics are runc's: the OCI rules are evaluated in order starting
// from deny-all, the last matching rule wins, and a rule that would punch a
// hole in an earlier wildcard rule is refused, as cgroup v1 would ignore it.

// applyDevices replaces the device program of the cgroup by one enforcing
// rules. The replacement is atomic where the kernel supports
// BPF_F_REPLACE, so a live update never leaves the cgroup without a filter.
func (m *Manager) applyDevices(rules []specs.LinuxDeviceCgroup) error {
	converted, err := deviceRules(rules)
	if err != nil {
		return err
	}
	// The library reports a missing directory without its cause.
	if !m.Exists() {
		return fmt.Errorf("apply %s: cgroup %s: %w", devicesField, m.dir, errdefs.ErrNotFound)
	}
	if err := occgroups.DevicesSetV2(m.dir, &occgroups.Resources{Devices: converted}); err != nil {
		// Failures of the bpf(2) calls carry an errno; anything else is
		// the rule set itself being refused.
		var errno unix.Errno
		if !errors.As(err, &errno) {
			return errdefs.InvalidField(devicesField, err.Error())
		}
		return fmt.Errorf("attach device filter to cgroup %s (needs CONFIG_CGROUP_BPF and CAP_SYS_ADMIN): %w", m.dir, err)
	}
	return nil
}

// deviceRules converts OCI device rules into the library's form, checking
// each field.
func deviceRules(rules []specs.LinuxDeviceCgroup) ([]*devconfig.Rule, error) {
	out := make([]*devconfig.Rule, 0, len(rules))
	for i, r := range rules {
		field := fmt.Sprintf("%s[%d]", devicesField, i)
		rule := &devconfig.Rule{
			Type:        devconfig.WildcardDevice,
			Major:       devconfig.Wildcard,
			Minor:       devconfig.Wildcard,
			Permissions: devconfig.Permissions(r.Access),
			Allow:       r.Allow,
		}
		switch r.Type {
		case "", "a":
		case "c", "u":
			rule.Type = devconfig.CharDevice
		case "b":
			rule.Type = devconfig.BlockDevice
		default:
			return nil, errdefs.InvalidField(field+".type", fmt.Sprintf("%q is not one of a, c, b", r.Type))
		}
		var err error
		if rule.Major, err = deviceNumber(r.Major); err != nil {
			return nil, errdefs.InvalidField(field+".major", err.Error())
		}
		if rule.Minor, err = deviceNumber(r.Minor); err != nil {
			return nil, errdefs.InvalidField(field+".minor", err.Error())
		}
		if r.Access == "" || strings.Trim(r.Access, "rwm") != "" {
			return nil, errdefs.InvalidField(field+".access", fmt.Sprintf("%q is not a combination of r, w and m", r.Access))
		}
		out = append(out, rule)
	}
	return out, nil
}

// deviceNumber returns the major or minor number n, or the wildcard when n
// is unset or -1 (the value runc's spec conversion uses for "any").
func deviceNumber(n *int64) (int64, error) {
	switch {
	case n == nil || *n == devconfig.Wildcard:
		return devconfig.Wildcard, nil
	case *n < 0 || *n > math.MaxUint32:
		return 0, fmt.Errorf("%d is outside 0..%d", *n, uint32(math.MaxUint32))
	}
	return *n, nil
}

package spec

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// defaultCapabilities are the capabilities of a container that asks for no
// change: the set containerd and Docker give.
var defaultCapabilities = []capability.Cap{
	capability.CAP_CHOWN, capability.CAP_DAC_OVERRIDE, capability.CAP_FSETID, capability.CAP_FOWNER,
	capability.CAP_MKNOD, capability.CAP_NET_RAW, capability.CAP_SETGID, capability.CAP_SETUID,
	capability.CAP_SETFCAP, capability.CAP_SETPCAP, capability.CAP_NET_BIND_SERVICE, capability.CAP_SYS_CHROOT,
	capability.CAP_KILL, capability.CAP_AUDIT_WRITE,
}

// capSet is a set of capabilities.
type capSet map[capability.Cap]bool

// names lists the set as OCI names, in the kernel's order.
func (s capSet) names() []string {
	names := []string{}
	for _, c := range capability.ListKnown() {
		if s[c] {
			names = append(names, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	return names
}

// buildCapabilities applies linux.security_context.capabilities to the
// default set, as containerd does: "ALL" in add starts from every
// capability crisp holds and "ALL" in drop from none; then the named ones
// are added, then dropped. A privileged container has every capability
// crisp holds. Ambient capabilities are added to the other sets too, and
// are the inheritable set: the kernel keeps only ambient capabilities that
// are permitted and inheritable.
func buildCapabilities(sc *runtimeapi.LinuxContainerSecurityContext) (*specs.LinuxCapabilities, error) {
	const field = "linux.security_context.capabilities."
	all, err := heldCapabilities()
	if err != nil {
		return nil, err
	}
	parse := func(list string, names []string) ([]capability.Cap, bool, error) {
		var caps []capability.Cap
		hasAll := false
		for i, name := range names {
			n := strings.ToUpper(strings.TrimSpace(name))
			if n == "ALL" && list != "add_ambient_capabilities" {
				hasAll = true
				continue
			}
			c, err := parseCapability(n, all)
			if err != nil {
				return nil, false, errdefs.InvalidField(fmt.Sprintf("%s%s[%d]", field, list, i), err.Error())
			}
			caps = append(caps, c)
		}
		return caps, hasAll, nil
	}
	spec := sc.GetCapabilities()
	add, addAll, err := parse("add_capabilities", spec.GetAddCapabilities())
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := parse("drop_capabilities", spec.GetDropCapabilities())
	if err != nil {
		return nil, err
	}
	ambient, _, err := parse("add_ambient_capabilities", spec.GetAddAmbientCapabilities())
	if err != nil {
		return nil, err
	}
	set := capSet{}
	switch {
	case sc.GetPrivileged():
		for c := range all {
			set[c] = true
		}
	default:
		switch {
		case dropAll: // also with ALL in add: the drops come after the adds
		case addAll:
			for c := range all {
				set[c] = true
			}
		default:
			for _, c := range defaultCapabilities {
				if all[c] {
					set[c] = true
				}
			}
		}
		for _, c := range add {
			set[c] = true
		}
		for _, c := range drop {
			delete(set, c)
		}
	}
	amb := capSet{}
	for _, c := range ambient {
		set[c], amb[c] = true, true
	}
	names := set.names()
	return &specs.LinuxCapabilities{
		Bounding:    names,
		Effective:   names,
		Permitted:   names,
		Inheritable: amb.names(),
		Ambient:     amb.names(),
	}, nil
}

// heldCapabilities is every capability crisp can grant: those of the
// running kernel that crisp's own process has (its effective set), as
// containerd does. crisp running in a container, or under a systemd unit
// with a CapabilityBoundingSet, may hold fewer than the kernel knows.
func heldCapabilities() (capSet, error) {
	self, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("crisp's capabilities: %w", err)
	}
	if err := self.Load(); err != nil {
		return nil, fmt.Errorf("crisp's capabilities: %w", err)
	}
	last, err := capability.LastCap()
	if err != nil {
		return nil, fmt.Errorf("capabilities of the running kernel: %w", err)
	}
	held := capSet{}
	for _, c := range capability.ListKnown() {
		if c <= last && self.Get(capability.EFFECTIVE, c) {
			held[c] = true
		}
	}
	return held, nil
}

// parseCapability reads a capability name, with or without "CAP_", in any
// case. A capability crisp cannot grant is an error, not silently left
// out.
func parseCapability(name string, held capSet) (capability.Cap, error) {
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	for _, c := range capability.ListKnown() {
		if strings.ToUpper(c.String()) == n {
			if !held[c] {
				return 0, fmt.Errorf("capability %q is not available: the kernel or crisp itself lacks it", name)
			}
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

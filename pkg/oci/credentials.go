package oci

import (
	"fmt"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// compileCredentials switches to the process's user, groups and umask and
// sets its capabilities. Capabilities survive the switch from root through
// PR_SET_KEEPCAPS; the bounding set is limited first, while the process
// still has CAP_SETPCAP.
func compileCredentials(p *program, proc *specs.Process) error {
	type capSet struct {
		names []string
		mask  uint64
	}
	var bounding, effective, permitted, inheritable, ambient capSet
	caps := proc.Capabilities
	s := step{what: "process.capabilities"}
	if caps != nil {
		bounding.names, effective.names, permitted.names = caps.Bounding, caps.Effective, caps.Permitted
		inheritable.names, ambient.names = caps.Inheritable, caps.Ambient
		for _, set := range []*capSet{&bounding, &effective, &permitted, &inheritable, &ambient} {
			var err error
			if set.mask, err = capabilityMask(set.names); err != nil {
				return fmt.Errorf("process.capabilities: %w", err)
			}
		}
		last, err := capability.LastCap()
		if err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
		p.add(nsenter.OpCapBounding, s, num(bounding.mask), num(last))
		p.add(nsenter.OpKeepCaps, s, "1")
	}
	u := proc.User
	groups := make([]string, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		groups = append(groups, num(g))
	}
	p.add(nsenter.OpSetgroups, step{what: "process.user.additionalGids"}, groups...)
	p.add(nsenter.OpSetresgid, step{what: fmt.Sprintf("process.user.gid %d", u.GID)}, num(u.GID))
	p.add(nsenter.OpSetresuid, step{what: fmt.Sprintf("process.user.uid %d", u.UID)}, num(u.UID))
	if caps != nil {
		p.add(nsenter.OpKeepCaps, s, "0")
		p.add(nsenter.OpCapset, s, num(effective.mask), num(permitted.mask), num(inheritable.mask), num(ambient.mask))
	}
	umask := uint32(0o022)
	if u.Umask != nil {
		umask = *u.Umask
	}
	p.add(nsenter.OpUmask, step{what: "process.user.umask"}, num(umask))
	return nil
}

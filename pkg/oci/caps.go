package oci

import (
	"fmt"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
)

// capsByName maps "CAP_CHOWN" and friends to the capabilities crisp knows,
// built once.
var capsByName = sync.OnceValue(func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
})

// parseCaps converts capability names. Names unknown to this kernel are an
// error, so that a spec never silently grants less than it says.
func parseCaps(names []string) ([]capability.Cap, error) {
	known := capsByName()
	last, err := capability.LastCap()
	if err != nil {
		return nil, err
	}
	caps := make([]capability.Cap, 0, len(names))
	for _, n := range names {
		c, ok := known[strings.ToUpper(n)]
		if !ok {
			return nil, fmt.Errorf("unknown capability %q", n)
		}
		if c > last {
			continue // newer than this kernel: it cannot be granted anyway
		}
		caps = append(caps, c)
	}
	return caps, nil
}

// capabilityMask converts capability names to the kernel's bit mask.
func capabilityMask(names []string) (uint64, error) {
	caps, err := parseCaps(names)
	if err != nil {
		return 0, err
	}
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return m, nil
}

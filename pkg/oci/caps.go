package oci

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capsByName maps "CAP_CHOWN" and friends to capabilities this kernel knows.
func capsByName() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}

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

// capSets are the five capability sets of a process.
type capSets struct {
	bounding, effective, inheritable, permitted, ambient []capability.Cap
}

func newCapSets(c *specs.LinuxCapabilities) (*capSets, error) {
	var s capSets
	var err error
	for _, x := range []struct {
		dst   *[]capability.Cap
		names []string
	}{
		{&s.bounding, c.Bounding}, {&s.effective, c.Effective}, {&s.inheritable, c.Inheritable},
		{&s.permitted, c.Permitted}, {&s.ambient, c.Ambient},
	} {
		if *x.dst, err = parseCaps(x.names); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// dropBounding limits the bounding set; it needs CAP_SETPCAP, so it runs
// before the process changes its user.
func (s *capSets) dropBounding() error {
	c, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	c.Clear(capability.BOUNDING)
	c.Set(capability.BOUNDING, s.bounding...)
	if err := c.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("bounding set: %w", err)
	}
	return nil
}

// apply sets the effective, permitted, inheritable and ambient sets.
func (s *capSets) apply() error {
	c, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	if err := c.Load(); err != nil {
		return err
	}
	c.Clear(capability.CAPS | capability.AMBIENT)
	c.Set(capability.EFFECTIVE, s.effective...)
	c.Set(capability.PERMITTED, s.permitted...)
	c.Set(capability.INHERITABLE, s.inheritable...)
	c.Set(capability.AMBIENT, s.ambient...)
	if err := c.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if err := c.Apply(capability.AMBIENT); err != nil {
		return fmt.Errorf("ambient capabilities: %w", err)
	}
	return nil
}

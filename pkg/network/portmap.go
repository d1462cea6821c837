package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Validate checks a port mapping before it reaches the portmap plugin, which
// turns it into iptables rules: a protocol of TCP, UDP or SCTP (in any
// case), a container port in 1-65535, a host port in 0-65535 (0 forwards
// nothing) and a host IP that is empty or an address without a zone.
func (pm PortMapping) Validate() error {
	switch strings.ToUpper(pm.Protocol) {
	case "TCP", "UDP", "SCTP":
	default:
		return errdefs.InvalidField("protocol", fmt.Sprintf("%q is not TCP, UDP or SCTP", pm.Protocol))
	}
	if pm.ContainerPort <= 0 || pm.ContainerPort > 65535 {
		return errdefs.InvalidField("container_port", fmt.Sprintf("%d is not a port (1-65535)", pm.ContainerPort))
	}
	if pm.HostPort < 0 || pm.HostPort > 65535 {
		return errdefs.InvalidField("host_port", fmt.Sprintf("%d is not a port (0-65535)", pm.HostPort))
	}
	if pm.HostIP != "" {
		if addr, err := netip.ParseAddr(pm.HostIP); err != nil || addr.Zone() != "" {
			return errdefs.InvalidField("host_ip", fmt.Sprintf("%q is not an IP address", pm.HostIP))
		}
	}
	return nil
}

// validatePortMappings checks every port mapping of p; errors name
// port_mappings[i].
func (p *Pod) validatePortMappings() error {
	for i, pm := range p.PortMappings {
		var fe *errdefs.FieldError
		if err := pm.Validate(); errors.As(err, &fe) {
			return errdefs.InvalidField(fmt.Sprintf("port_mappings[%d].%s", i, fe.Field), fe.Problem)
		} else if err != nil {
			return fmt.Errorf("port_mappings[%d]: %w", i, err)
		}
	}
	return nil
}

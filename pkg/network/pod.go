package network

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Pod is what CNI needs to know about a pod to attach or detach it.
type Pod struct {
	// ID is the sandbox id; CNI calls it the container id.
	ID        string
	Name      string
	Namespace string
	UID       string
	// NetNS is the path of the pod's pinned network namespace.
	NetNS        string
	PortMappings []PortMapping
	// Bandwidth limits from the pod's kubernetes.io/{ingress,egress}-bandwidth
	// annotations; nil for none.
	Bandwidth *Bandwidth
	DNS       *DNS
}

// PortMapping is one host port forwarded to the pod (CNI portMappings
// capability; the portmap plugin implements it).
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Bandwidth is the CNI bandwidth capability, in bits per second.
type Bandwidth struct {
	IngressRate  uint64 `json:"ingressRate,omitempty"`
	IngressBurst uint64 `json:"ingressBurst,omitempty"`
	EgressRate   uint64 `json:"egressRate,omitempty"`
	EgressBurst  uint64 `json:"egressBurst,omitempty"`
}

// DNS is the CNI dns capability.
type DNS struct {
	Servers  []string `json:"servers,omitempty"`
	Searches []string `json:"searches,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// Result is what attaching a pod produced.
type Result struct {
	// IPs are the pod's addresses, the primary (IPv4 when there is one) first.
	IPs []netip.Addr
}

// validateArgs refuses the pod's names that CNI_ARGS cannot carry: the
// values are joined as KEY=VALUE;KEY=VALUE into one environment variable,
// so a ';' or '=' would add an argument of the caller's choosing and a NUL
// would cut the variable short.
func (p *Pod) validateArgs() error {
	for _, a := range []struct{ field, value string }{
		{"metadata.namespace", p.Namespace}, {"metadata.name", p.Name}, {"metadata.uid", p.UID},
	} {
		if strings.ContainsAny(a.value, ";=") || strings.ContainsFunc(a.value, unicode.IsControl) {
			return errdefs.InvalidField(a.field, fmt.Sprintf("%q cannot be passed in CNI_ARGS", a.value))
		}
	}
	return nil
}

// cniArgs are the CNI_ARGS every Kubernetes runtime passes.
func (p *Pod) cniArgs() [][2]string {
	return [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", p.Namespace},
		{"K8S_POD_NAME", p.Name},
		{"K8S_POD_INFRA_CONTAINER_ID", p.ID},
		{"K8S_POD_UID", p.UID},
	}
}

// hostPortMappings are the pod's port mappings with a host port, as the
// portMappings capability carries them: a container port without a host
// port needs no forwarding.
func (p *Pod) hostPortMappings() []PortMapping {
	var ports []PortMapping
	for _, pm := range p.PortMappings {
		if pm.HostPort <= 0 {
			continue
		}
		pm.Protocol = strings.ToLower(pm.Protocol)
		ports = append(ports, pm)
	}
	return ports
}

// capabilityArgs are the runtimeConfig values for the plugins that declare
// the matching capabilities.
func (p *Pod) capabilityArgs() map[string]any {
	caps := map[string]any{}
	if ports := p.hostPortMappings(); len(ports) > 0 {
		caps["portMappings"] = ports
	}
	if p.Bandwidth != nil {
		caps["bandwidth"] = p.Bandwidth
	}
	if p.DNS != nil {
		caps["dns"] = p.DNS
	}
	return caps
}

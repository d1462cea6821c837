package network

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestPortMappingValidate(t *testing.T) {
	tests := []struct {
		pm    PortMapping
		field string // "" when valid
	}{
		{PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 8080}, ""},
		{PortMapping{Protocol: "udp", ContainerPort: 53}, ""},
		{PortMapping{Protocol: "SCTP", ContainerPort: 1, HostPort: 65535, HostIP: "::1"}, ""},
		{PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 80, HostIP: "127.0.0.1"}, ""},
		{PortMapping{Protocol: "99", ContainerPort: 80}, "protocol"},
		{PortMapping{Protocol: "", ContainerPort: 80}, "protocol"},
		{PortMapping{Protocol: "icmp", ContainerPort: 80}, "protocol"},
		{PortMapping{Protocol: "TCP", ContainerPort: 0}, "container_port"},
		{PortMapping{Protocol: "TCP", ContainerPort: 65536}, "container_port"},
		{PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: -1}, "host_port"},
		{PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 70000}, "host_port"},
		{PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 80, HostIP: "not-an-ip;rm -rf /"}, "host_ip"},
		{PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 80, HostIP: "fe80::1%eth0"}, "host_ip"},
		{PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 80, HostIP: "10.0.0.1/8"}, "host_ip"},
	}
	for _, tt := range tests {
		err := tt.pm.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.pm, err)
			}
			continue
		}
		var fe *errdefs.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: %v, want a field error naming %s", tt.pm, err, tt.field)
		}
	}
}

// A hostile port mapping is refused before any plugin runs: the manager
// here has no network configuration, so reaching CNI would fail otherwise.
func TestAttachRefusesBadPortMappingBeforeCNI(t *testing.T) {
	m := NewManager(t.TempDir(), []string{t.TempDir()}, t.TempDir())
	p := &Pod{ID: "x", Name: "n", Namespace: "ns", UID: "u", PortMappings: []PortMapping{
		{Protocol: "TCP", ContainerPort: 80, HostPort: 80},
		{Protocol: "TCP", ContainerPort: 80, HostPort: 81, HostIP: "not-an-ip;rm -rf /"},
	}}
	_, err := m.Attach(context.Background(), p)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "port_mappings[1].host_ip") {
		t.Fatalf("Attach: %v, want invalid argument naming port_mappings[1].host_ip", err)
	}
}

// Names that would add a CNI argument or cut CNI_ARGS short never reach a
// plugin, whatever the CRI edge let through.
func TestAttachRefusesNamesCNIArgsCannotCarry(t *testing.T) {
	m := NewManager(t.TempDir(), []string{t.TempDir()}, t.TempDir())
	for _, tc := range []struct {
		pod   Pod
		field string
	}{
		{Pod{ID: "x", Name: "n;K8S_POD_NAMESPACE=kube-system", Namespace: "ns", UID: "u"}, "metadata.name"},
		{Pod{ID: "x", Name: "n", Namespace: "ns=x", UID: "u"}, "metadata.namespace"},
		{Pod{ID: "x", Name: "n", Namespace: "ns", UID: "u\x00v"}, "metadata.uid"},
		{Pod{ID: "x", Name: "n\nm", Namespace: "ns", UID: "u"}, "metadata.name"},
	} {
		_, err := m.Attach(context.Background(), &tc.pod)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Attach %+v: %v, want invalid argument naming %s", tc.pod, err, tc.field)
		}
	}
}

package cri

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func validPodConfig() *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:  &runtimeapi.PodSandboxMetadata{Name: "p", Uid: "u", Namespace: "ns", Attempt: 2},
		Hostname:  "p",
		DnsConfig: &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}},
		PortMappings: []*runtimeapi.PortMapping{
			{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 5353, HostIp: "127.0.0.1"},
		},
		Annotations: map[string]string{"kubernetes.io/ingress-bandwidth": "10M"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/podu",
			Sysctls:      map[string]string{"kernel.shmmni": "1000"},
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
				Network: runtimeapi.NamespaceMode_NODE,
				Pid:     runtimeapi.NamespaceMode_POD,
				Ipc:     runtimeapi.NamespaceMode_POD,
			}},
		},
	}
}

func TestSandboxSpecTranslation(t *testing.T) {
	spec, err := sandboxSpec(validPodConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Metadata != (sandbox.Metadata{Name: "p", UID: "u", Namespace: "ns", Attempt: 2}) {
		t.Errorf("metadata %+v", spec.Metadata)
	}
	if spec.NetworkMode != sandbox.ModeNode || spec.PIDMode != sandbox.ModePod || spec.IPCMode != sandbox.ModePod {
		t.Errorf("modes net=%s pid=%s ipc=%s", spec.NetworkMode, spec.PIDMode, spec.IPCMode)
	}
	if len(spec.PortMappings) != 1 || spec.PortMappings[0] != (network.PortMapping{Protocol: "UDP", ContainerPort: 53, HostPort: 5353, HostIP: "127.0.0.1"}) {
		t.Errorf("port mappings %+v", spec.PortMappings)
	}
	if spec.Bandwidth == nil || spec.Bandwidth.IngressRate != 10_000_000 || spec.Bandwidth.EgressRate != 0 {
		t.Errorf("bandwidth %+v", spec.Bandwidth)
	}
	if spec.CgroupParent != "/kubepods/podu" || spec.Sysctls["kernel.shmmni"] != "1000" || spec.DNS.Servers[0] != "10.0.0.10" {
		t.Errorf("spec %+v", spec)
	}
}

func TestSandboxSpecRejectsBadInput(t *testing.T) {
	tests := []struct {
		field  string
		mutate func(*runtimeapi.PodSandboxConfig)
	}{
		{"config.metadata", func(c *runtimeapi.PodSandboxConfig) { c.Metadata = nil }},
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "" }},
		{"config.metadata.uid", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "" }},
		{"config.metadata.namespace", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = "" }},
		{"config.port_mappings[0]", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].HostPort = 70000 }},
		{"config.annotations[kubernetes.io/ingress-bandwidth]", func(c *runtimeapi.PodSandboxConfig) {
			c.Annotations["kubernetes.io/ingress-bandwidth"] = "lots"
		}},
		{"config.annotations[kubernetes.io/egress-bandwidth]", func(c *runtimeapi.PodSandboxConfig) {
			c.Annotations["kubernetes.io/egress-bandwidth"] = "10"
		}},
		{"namespace_options.network", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_CONTAINER
		}},
		{"namespace_options.pid", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_TARGET
		}},
		{"config.linux.security_context.run_as_group", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: 1000}
		}},
		{"userns_options.uids", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}
		}},
		{"userns_options.mode", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}
		}},
		{"userns_options.mode", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_TARGET}
		}},
		{"config.linux.security_context.namespace_options.userns_options.uids", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE, Uids: usernsMaps(1 << 20)}
		}},
		{"userns_options.gids[0]", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
				Uids: usernsMaps(1 << 20), Gids: []*runtimeapi.IDMapping{nil}}
		}},
		{"userns_options.uids[1].container_id", func(c *runtimeapi.PodSandboxConfig) {
			// As critest sends: two ranges of container ids from 0.
			maps := append(usernsMaps(1000), &runtimeapi.IDMapping{ContainerId: 0, HostId: 200000, Length: 100000})
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: maps, Gids: maps}
		}},
		{"config.linux.security_context.namespace_options.userns_options.uids", func(c *runtimeapi.PodSandboxConfig) {
			maps := []*runtimeapi.IDMapping{{ContainerId: 1, HostId: 1 << 20, Length: 65536}}
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: maps, Gids: usernsMaps(1 << 20)}
		}},
		{"userns_options.gids[0].host_id", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
				Uids: usernsMaps(1 << 20), Gids: usernsMaps(0)}
		}},
		{"userns_options.uids[0]", func(c *runtimeapi.PodSandboxConfig) {
			maps := []*runtimeapi.IDMapping{{ContainerId: 0, HostId: 4294967000, Length: 65536}}
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: maps, Gids: usernsMaps(1 << 20)}
		}},
		{"userns_options.uids", func(c *runtimeapi.PodSandboxConfig) {
			maps := make([]*runtimeapi.IDMapping, 2000)
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: maps, Gids: usernsMaps(1 << 20)}
		}},
		{"userns_options", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
			c.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_CONTAINER
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
				Uids: usernsMaps(1 << 20), Gids: usernsMaps(1 << 20)}
		}},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tt.field), func(t *testing.T) {
			cfg := validPodConfig()
			tt.mutate(cfg)
			_, err := sandboxSpec(cfg, "")
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("err = %v, want invalid argument naming %s", err, tt.field)
			}
		})
	}
	if _, err := sandboxSpec(nil, ""); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("nil config: %v", err)
	}
	cfg := validPodConfig()
	cfg.Linux.SecurityContext.RunAsUser = &runtimeapi.Int64Value{Value: 1000}
	cfg.Linux.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: 1000}
	if _, err := sandboxSpec(cfg, ""); err != nil {
		t.Errorf("run_as_group with run_as_user: %v", err)
	}
}

// usernsMaps is one range of 65536 ids from container id 0 to host.
func usernsMaps(host uint32) []*runtimeapi.IDMapping {
	return []*runtimeapi.IDMapping{{ContainerId: 0, HostId: host, Length: 65536}}
}

// kubelet's maps for a pod in its own user namespace are translated as
// they are.
func TestSandboxSpecUserNamespace(t *testing.T) {
	cfg := validPodConfig()
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_POD
	cfg.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_CONTAINER
	uids := usernsMaps(1 << 20)
	gids := []*runtimeapi.IDMapping{{ContainerId: 0, HostId: 2 << 20, Length: 1000}, {ContainerId: 1000, HostId: 3 << 20, Length: 64536}}
	cfg.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: uids, Gids: gids}
	spec, err := sandboxSpec(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	want := &sandbox.UserNamespace{
		UIDs: []sandbox.IDMapping{{ContainerID: 0, HostID: 1 << 20, Size: 65536}},
		GIDs: []sandbox.IDMapping{{ContainerID: 0, HostID: 2 << 20, Size: 1000}, {ContainerID: 1000, HostID: 3 << 20, Size: 64536}},
	}
	if !reflect.DeepEqual(spec.UserNS, want) {
		t.Errorf("user namespace %+v, want %+v", spec.UserNS, want)
	}
	cfg.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}
	if spec, err := sandboxSpec(cfg, ""); err != nil || spec.UserNS != nil {
		t.Errorf("NODE: %+v, %v; want the host's user namespace", spec.UserNS, err)
	}
}

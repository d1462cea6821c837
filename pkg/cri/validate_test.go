package cri

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// wantInvalid fails unless err maps to codes.InvalidArgument and its message
// names field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if code := status.Code(toStatus(err)); code != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
		t.Errorf("got %v (%s), want InvalidArgument naming %s", err, code, field)
	}
}

func TestValidatePodConfigRefusesHostileFields(t *testing.T) {
	huge := strings.Repeat("a", 1<<20)
	tests := []struct {
		field  string
		mutate func(*runtimeapi.PodSandboxConfig)
	}{
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = huge }},
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "p\x00q" }},
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "p\nq" }},
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "p;K8S_POD_NAMESPACE=kube-system" }},
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "../../etc" }},
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "\xff" }},
		{"config.metadata.namespace", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = huge }},
		{"config.metadata.namespace", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = "a b" }},
		{"config.metadata.uid", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "u\x7f" }},
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "web\n10.0.0.1\tbank.example" }},
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = strings.Repeat("a", 65) }},
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = strings.Repeat("a", 64) + ".b" }},
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "-web" }},
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "web..example" }},
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "web_1" }},
		{"config.log_directory", func(c *runtimeapi.PodSandboxConfig) { c.LogDirectory = "var/log/pods/x" }},
		{"config.linux.security_context.selinux_options", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				SelinuxOptions: &runtimeapi.SELinuxOption{Type: "spc_t"}}}
		}},
		{"config.linux.security_context.seccomp.localhost_ref", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/dev/zero"}}}
		}},
		{"config.linux.security_context.seccomp.localhost_ref", func(c *runtimeapi.PodSandboxConfig) {
			c.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "profile.json"}}}
		}},
		{"config.log_directory", func(c *runtimeapi.PodSandboxConfig) { c.LogDirectory = "/var/log/pods/../../etc" }},
		{"config.log_directory", func(c *runtimeapi.PodSandboxConfig) { c.LogDirectory = "/var/log/pods/x/" }},
		{"config.log_directory", func(c *runtimeapi.PodSandboxConfig) { c.LogDirectory = "/var/log/pods/x\x00" }},
		{"config.dns_config.servers[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Servers[0] = "10.0.0.10\nnameserver 6.6.6.6" }},
		{"config.dns_config.servers[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Servers[0] = "dns.example" }},
		{"config.dns_config.servers[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Servers[0] = "fe80::1%eth0 x" }},
		{"config.dns_config.servers", func(c *runtimeapi.PodSandboxConfig) {
			c.DnsConfig.Servers = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}
		}},
		{"config.dns_config.searches[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Searches = []string{"a.example\nnameserver 6.6.6.6"} }},
		{"config.dns_config.searches[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Searches = []string{"a b"} }},
		{"config.dns_config.searches[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Searches = []string{strings.Repeat("a", 64)} }},
		{"config.dns_config.searches", func(c *runtimeapi.PodSandboxConfig) {
			c.DnsConfig.Searches = strings.Split(strings.Repeat("a.example,", maxDNSSearches+1), ",")[:maxDNSSearches+1]
		}},
		{"config.dns_config.searches", func(c *runtimeapi.PodSandboxConfig) {
			c.DnsConfig.Searches = strings.Split(strings.TrimSuffix(strings.Repeat(strings.Repeat("a", 63)+"."+strings.Repeat("b", 63)+",", 20), ","), ",")
		}},
		{"config.dns_config.options[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Options = []string{"ndots:5\nnameserver 6.6.6.6"} }},
		{"config.dns_config.options[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Options = []string{"ndots:5 rotate"} }},
		{"config.dns_config.options[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Options = []string{":5"} }},
		{"config.dns_config.options[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Options = []string{"ndots:"} }},
		{"config.port_mappings[0].host_ip", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].HostIp = "not-an-ip;rm -rf /" }},
		{"config.port_mappings[0].host_ip", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].HostIp = "fe80::1%eth0" }},
		{"config.port_mappings[0].protocol", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].Protocol = 99 }},
		{"config.port_mappings[0].protocol", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].Protocol = -1 }},
		{"config.port_mappings[0].container_port", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].ContainerPort = 0 }},
		{"config.port_mappings[0].container_port", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].ContainerPort = 65536 }},
		{"config.port_mappings[0].host_port", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].HostPort = -1 }},
		{"config.port_mappings[1]", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings = append(c.PortMappings, nil) }},
		{"config.port_mappings", func(c *runtimeapi.PodSandboxConfig) {
			for range maxPortMappings {
				c.PortMappings = append(c.PortMappings, &runtimeapi.PortMapping{ContainerPort: 80})
			}
		}},
		{"config.labels[a\nb]", func(c *runtimeapi.PodSandboxConfig) { c.Labels = map[string]string{"a\nb": "x"} }},
		{"config.labels[app]", func(c *runtimeapi.PodSandboxConfig) { c.Labels = map[string]string{"app": huge} }},
		{"config.labels[app]", func(c *runtimeapi.PodSandboxConfig) { c.Labels = map[string]string{"app": "x\x00"} }},
		{"config.labels[]", func(c *runtimeapi.PodSandboxConfig) { c.Labels = map[string]string{"": "x"} }},
		{"config.annotations", func(c *runtimeapi.PodSandboxConfig) { c.Annotations["big"] = huge }},
		{"config.annotations[a]", func(c *runtimeapi.PodSandboxConfig) { c.Annotations["a"] = "x\x00" }},
		{"config.annotations[", func(c *runtimeapi.PodSandboxConfig) { c.Annotations[strings.Repeat("k", 400)] = "x" }},
		{"config.linux.cgroup_parent", func(c *runtimeapi.PodSandboxConfig) { c.Linux.CgroupParent = "/kubepods\n" }},
		{"runtime_handler", func(c *runtimeapi.PodSandboxConfig) {}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := validPodConfig()
			tt.mutate(cfg)
			handler := ""
			if tt.field == "runtime_handler" {
				handler = "runc\x00"
			}
			err := validatePodConfig(cfg, handler)
			wantInvalid(t, err, tt.field)
			// sandboxSpec refuses what validatePodConfig refuses.
			_, err = sandboxSpec(cfg, handler)
			wantInvalid(t, err, tt.field)
		})
	}
	cfg := validPodConfig()
	cfg.DnsConfig = &runtimeapi.DNSConfig{
		Servers:  []string{"10.96.0.10", "fd00::10", "fe80::1%eth0"},
		Searches: []string{"default.svc.cluster.local", "svc.cluster.local", "_tcp.example."},
		Options:  []string{"ndots:5", "edns0", "single-request-reopen", "timeout:1.5"},
	}
	cfg.Hostname = strings.Repeat("a", 63)
	cfg.LogDirectory = "/var/log/pods/ns_p_u"
	cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{Protocol: runtimeapi.Protocol_SCTP, ContainerPort: 9, HostIp: "::"})
	if err := validatePodConfig(cfg, "runc"); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// A host-network pod shares the host's UTS namespace: its domain name is
// the host's and must not be set; the field is named with its CRI path.
func TestSandboxSpecRefusesSysctlsOfSharedNamespaces(t *testing.T) {
	for _, tt := range []struct {
		key     string
		network runtimeapi.NamespaceMode
		ipc     runtimeapi.NamespaceMode
	}{
		{"kernel.domainname", runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_POD},
		{"kernel.hostname", runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_POD},
		{"net.ipv4.ip_forward", runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_POD},
		{"kernel.shmmni", runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_NODE},
		{"kernel.panic", runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_POD},
	} {
		cfg := validPodConfig()
		cfg.Linux.SecurityContext.NamespaceOptions.Network = tt.network
		cfg.Linux.SecurityContext.NamespaceOptions.Ipc = tt.ipc
		cfg.Linux.Sysctls = map[string]string{tt.key: "1"}
		_, err := sandboxSpec(cfg, "")
		wantInvalid(t, err, "config.linux.sysctls["+tt.key+"]")
	}
	cfg := validPodConfig()
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_POD
	cfg.Linux.Sysctls = map[string]string{"kernel.domainname": "pod.example", "net.ipv4.ip_forward": "1\n"}
	_, err := sandboxSpec(cfg, "")
	wantInvalid(t, err, "config.linux.sysctls[net.ipv4.ip_forward]")
	delete(cfg.Linux.Sysctls, "net.ipv4.ip_forward")
	if _, err := sandboxSpec(cfg, ""); err != nil {
		t.Errorf("domain name of a pod with its own UTS namespace refused: %v", err)
	}
}

// recordingPods fails nothing and records whether Run was reached.
type recordingPods struct {
	streamPods
	runs *int
}

func (p recordingPods) Run(context.Context, sandbox.Spec) (*sandbox.Sandbox, error) {
	*p.runs++
	return &sandbox.Sandbox{ID: "new"}, nil
}

// Over gRPC, a hostile pod config is answered InvalidArgument naming the
// field, and the sandbox manager is never reached.
func TestRunPodSandboxRefusesHostileConfigOverGRPC(t *testing.T) {
	runs := 0
	c := serve(t, NewRuntimeService(config.Default(), RuntimeDeps{Network: networkStatus{}, Sandboxes: recordingPods{runs: &runs}}))
	ctx := background(t)
	for field, mutate := range map[string]func(*runtimeapi.PodSandboxConfig){
		"config.linux.sysctls[kernel.domainname]": func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"kernel.domainname": "hostile.example"}
		},
		"config.port_mappings[0].host_ip":  func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].HostIp = "not-an-ip;rm -rf /" },
		"config.port_mappings[0].protocol": func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].Protocol = 99 },
		"config.hostname":                  func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "a\nb" },
		"config.metadata.name":             func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = strings.Repeat("n", 1<<20) },
	} {
		cfg := validPodConfig()
		mutate(cfg)
		_, err := c.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: got %v, want InvalidArgument naming it", field, err)
		}
	}
	if runs != 0 {
		t.Errorf("the sandbox manager was reached %d times for hostile configs", runs)
	}
	if _, err := c.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: validPodConfig()}); err != nil || runs != 1 {
		t.Errorf("valid config: %v, %d runs", err, runs)
	}
}

func validContainerConfig() *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: "web", Attempt: 1},
		Image:      &runtimeapi.ImageSpec{Image: "busybox"},
		Command:    []string{"sh", "-c"},
		Args:       []string{"echo hi"},
		WorkingDir: "/srv",
		Envs:       []*runtimeapi.KeyValue{{Key: "A", Value: []byte("b c")}},
		Mounts: []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/var/lib/data"},
			{ContainerPath: "/models", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "busybox"}, ImageSubPath: "etc/ssl"}},
		Devices: []*runtimeapi.Device{{ContainerPath: "/dev/fuse", HostPath: "/dev/fuse", Permissions: "rw"}},
		Labels:  map[string]string{"io.kubernetes.container.name": "web"},
		Annotations: map[string]string{
			"io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
		},
		LogPath: "web/1.log",
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
		}},
	}
}

func TestValidateContainerConfigRefusesHostileFields(t *testing.T) {
	huge := strings.Repeat("a", 1<<20)
	tests := []struct {
		field  string
		mutate func(*runtimeapi.ContainerConfig)
	}{
		{"config.metadata.name", func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = huge }},
		{"config.metadata.name", func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = "web\x00" }},
		{"config.metadata.name", func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = "web\n" }},
		{"config.metadata.name", func(c *runtimeapi.ContainerConfig) { c.Metadata = nil }},
		{"config.image.image", func(c *runtimeapi.ContainerConfig) { c.Image.Image = "busybox\n" }},
		{"config.image.image", func(c *runtimeapi.ContainerConfig) { c.Image.Image = huge }},
		{"config.log_path", func(c *runtimeapi.ContainerConfig) { c.LogPath = "../../../../etc/x.log" }},
		{"config.log_path", func(c *runtimeapi.ContainerConfig) { c.LogPath = "web/../../x.log" }},
		{"config.log_path", func(c *runtimeapi.ContainerConfig) { c.LogPath = "/etc/x.log" }},
		{"config.log_path", func(c *runtimeapi.ContainerConfig) { c.LogPath = "web/0.log\x00" }},
		{"config.log_path", func(c *runtimeapi.ContainerConfig) { c.LogPath = "web/0.log\n" }},
		{"config.log_path", func(c *runtimeapi.ContainerConfig) { c.LogPath = huge }},
		{"config.command[1]", func(c *runtimeapi.ContainerConfig) { c.Command[1] = "-c\x00" }},
		{"config.args[0]", func(c *runtimeapi.ContainerConfig) { c.Args[0] = huge }},
		{"config.working_dir", func(c *runtimeapi.ContainerConfig) { c.WorkingDir = "srv" }},
		{"config.working_dir", func(c *runtimeapi.ContainerConfig) { c.WorkingDir = "/srv\x00" }},
		{"config.envs[0].key", func(c *runtimeapi.ContainerConfig) { c.Envs[0].Key = "A=B" }},
		{"config.envs[0].key", func(c *runtimeapi.ContainerConfig) { c.Envs[0].Key = "" }},
		{"config.envs[0]", func(c *runtimeapi.ContainerConfig) { c.Envs[0].Value = []byte("x\x00y") }},
		{"config.envs[1]", func(c *runtimeapi.ContainerConfig) { c.Envs = append(c.Envs, nil) }},
		{"config.mounts[0].container_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[0].ContainerPath = "/data\x00" }},
		{"config.mounts[0].host_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[0].HostPath = "/var/lib/data\x00/../etc" }},
		{"config.mounts[0].host_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[0].HostPath = "/" + huge }},
		{"config.mounts[0].image_sub_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[0].ImageSubPath = "etc" }},
		{"config.mounts[1].host_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].HostPath = "/etc" }},
		{"config.mounts[1].readonly", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].Readonly = false }},
		{"config.mounts[1].image.image", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].Image.Image = "busybox\x00" }},
		{"config.mounts[1].image.image", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].Image.Image = "" }},
		{"config.mounts[1].image_sub_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].ImageSubPath = "../../etc" }},
		{"config.mounts[1].image_sub_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].ImageSubPath = "/etc" }},
		{"config.mounts[1].image_sub_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].ImageSubPath = "etc\n" }},
		{"config.mounts[1].image_sub_path", func(c *runtimeapi.ContainerConfig) { c.Mounts[1].ImageSubPath = huge }},
		{"config.devices[0].container_path", func(c *runtimeapi.ContainerConfig) { c.Devices[0].ContainerPath = "/dev/fuse\n" }},
		{"config.devices[0].host_path", func(c *runtimeapi.ContainerConfig) { c.Devices[0].HostPath = "/dev/fuse\x00" }},
		{"config.labels[io.kubernetes.container.name]", func(c *runtimeapi.ContainerConfig) {
			c.Labels["io.kubernetes.container.name"] = huge
		}},
		{"config.annotations", func(c *runtimeapi.ContainerConfig) { c.Annotations["big"] = huge }},
		{"config.linux.security_context.selinux_options", func(c *runtimeapi.ContainerConfig) {
			c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				SelinuxOptions: &runtimeapi.SELinuxOption{Level: "s0:c1,c2"}}}
		}},
		{"config.linux.security_context.seccomp.localhost_ref", func(c *runtimeapi.ContainerConfig) {
			c.Linux.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/p\x00"}
		}},
		{"config.linux.security_context.apparmor.localhost_ref", func(c *runtimeapi.ContainerConfig) {
			c.Linux.SecurityContext.Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "p\n"}
		}},
		{"config.linux.security_context.masked_paths[0]", func(c *runtimeapi.ContainerConfig) {
			c.Linux.SecurityContext.MaskedPaths = []string{"/proc/kcore\x00"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := validContainerConfig()
			tt.mutate(cfg)
			wantInvalid(t, validateContainerConfig(cfg), tt.field)
		})
	}
	if err := validateContainerConfig(validContainerConfig()); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// Over gRPC, a hostile container config is answered InvalidArgument naming
// the field, and the container manager is never reached.
func TestCreateContainerRefusesHostileConfigOverGRPC(t *testing.T) {
	f, c := newContainerService(t)
	ctx := background(t)
	for field, mutate := range map[string]func(*runtimeapi.ContainerConfig){
		"config.log_path":      func(c *runtimeapi.ContainerConfig) { c.LogPath = "../../../../etc/x.log" },
		"config.metadata.name": func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = strings.Repeat("n", 1<<20) },
		"config.args[0]":       func(c *runtimeapi.ContainerConfig) { c.Args[0] = "a\x00b" },
	} {
		cfg := validContainerConfig()
		mutate(cfg)
		_, err := c.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "pod1", Config: cfg})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: got %v, want InvalidArgument naming it", field, err)
		}
	}
	for _, cmd := range [][]string{{"sh", "-c\x00"}, {strings.Repeat("a", maxArgLen)}} {
		_, err := c.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "aaa1", Cmd: cmd})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cmd[") {
			t.Errorf("ExecSync %.20q: got %v, want InvalidArgument naming cmd", cmd, err)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("the manager was called for hostile requests: %v", f.calls)
	}
}

func TestCheckHostname(t *testing.T) {
	for _, ok := range []string{"web", "web-1", "a.b.c", strings.Repeat("a", 63), "WEB"} {
		if err := checkHostname("config.hostname", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a\nb", "a b", "a\x00", "-a", "a-", "a..b", ".", "a_b", "ä", strings.Repeat("a", 64) + "b", strings.Repeat("a", 64)} {
		wantInvalid(t, checkHostname("config.hostname", bad), "config.hostname")
	}
}

func TestInFieldPrefixesFieldErrorsOnly(t *testing.T) {
	err := inField("config", errdefs.InvalidField("linux.sysctls[x]", "bad"))
	var fe *errdefs.FieldError
	if !errors.As(err, &fe) || fe.Field != "config.linux.sysctls[x]" || fe.Problem != "bad" {
		t.Errorf("inField = %v", err)
	}
	if err := inField("config", errdefs.InvalidField("config.hostname", "bad")); err.Error() != "config.hostname: bad" {
		t.Errorf("inField renamed a CRI path: %v", err)
	}
	plain := errors.New("plain")
	if inField("config", plain) != plain {
		t.Error("inField changed a plain error")
	}
}

// Image references are bounded and printable before the image store parses
// them or an error echoes them into the log; the store is never reached.
func TestImageRequestsRefuseHostileReferences(t *testing.T) {
	conn := serveConn(t, func(srv *grpc.Server) { runtimeapi.RegisterImageServiceServer(srv, NewImageService(nil)) })
	c := runtimeapi.NewImageServiceClient(conn)
	ctx := background(t)
	for _, ref := range []string{strings.Repeat("r", 1<<20), "busybox\n", "busybox\x00:latest"} {
		spec := &runtimeapi.ImageSpec{Image: ref}
		_, err := c.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec})
		wantInvalid(t, err, "image.image")
		_, err = c.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
		wantInvalid(t, err, "image.image")
		_, err = c.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec})
		wantInvalid(t, err, "image.image")
	}
}

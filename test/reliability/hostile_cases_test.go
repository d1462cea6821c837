package reliability

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const mib = 1 << 20

var (
	huge       = strings.Repeat("a", mib)
	unknownID  = strings.Repeat("0", 64)
	escapePath = "../../../../etc/" + hostMarker + ".log"
)

// hostileCases is the table: RunPodSandbox, CreateContainer, then every
// RPC that takes an id, then the remaining request fields of the
// RuntimeService and the ImageService.
func hostileCases() []hostileCase {
	var cs []hostileCase
	cs = append(cs, podCases()...)
	cs = append(cs, containerCases()...)
	cs = append(cs, idCases()...)
	cs = append(cs, requestCases()...)
	cs = append(cs, imageCases()...)
	return cs
}

// invalid is a case answered InvalidArgument naming fields.
func invalid(name string, prepare func(h *hostile) func(ctx context.Context) (any, error), fields ...string) hostileCase {
	return hostileCase{name: name, code: codes.InvalidArgument, fields: fields, prepare: prepare}
}

// pod is a RunPodSandbox case: a valid pod changed by mutate.
func pod(name string, mutate func(h *hostile, c *runtimeapi.PodSandboxConfig), fields ...string) hostileCase {
	return invalid("RunPodSandbox/"+name, func(h *hostile) func(ctx context.Context) (any, error) {
		c := h.podConfig(h.t, fmt.Sprintf("hostile-pod-%d", h.n))
		mutate(h, c)
		return func(ctx context.Context) (any, error) {
			return h.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: c})
		}
	}, fields...)
}

// hostNetwork makes c a pod in the node's network (and so UTS)
// namespace.
func hostNetwork(c *runtimeapi.PodSandboxConfig) {
	c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
	}
}

func podCases() []hostileCase {
	const sysctls = "config.linux.sysctls"
	sysctl := func(name, key, value string, host func(*runtimeapi.PodSandboxConfig)) hostileCase {
		return pod(name, func(_ *hostile, c *runtimeapi.PodSandboxConfig) {
			if host != nil {
				host(c)
			}
			c.Linux.Sysctls = map[string]string{key: value}
		}, sysctls)
	}
	hostIPC := func(c *runtimeapi.PodSandboxConfig) {
		c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE},
		}
	}
	port := func(name string, pm *runtimeapi.PortMapping, field string) hostileCase {
		return pod(name, func(_ *hostile, c *runtimeapi.PodSandboxConfig) {
			c.PortMappings = []*runtimeapi.PortMapping{pm}
		}, "config.port_mappings", field)
	}
	dns := func(name string, d *runtimeapi.DNSConfig, field string) hostileCase {
		return pod(name, func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.DnsConfig = d }, field)
	}
	const userns = "config.linux.security_context.namespace_options.userns_options"
	usernsPod := func(name string, u *runtimeapi.UserNamespace, field string) hostileCase {
		return pod(name, func(_ *hostile, c *runtimeapi.PodSandboxConfig) {
			if c.Linux.SecurityContext == nil {
				c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{}
			}
			c.Linux.SecurityContext.NamespaceOptions = &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: u}
		}, field)
	}
	idmap := func(c, h, n uint32) []*runtimeapi.IDMapping {
		return []*runtimeapi.IDMapping{{ContainerId: c, HostId: h, Length: n}}
	}
	good := idmap(0, 1<<20, 65536)
	many := make([]*runtimeapi.IDMapping, 100000)
	for i := range many {
		many[i] = &runtimeapi.IDMapping{ContainerId: uint32(i), HostId: 1<<20 + uint32(i), Length: 1}
	}
	return []hostileCase{
		usernsPod("userns mode CONTAINER", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}, userns+".mode"),
		usernsPod("userns NODE with maps", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE, Uids: good, Gids: good}, userns+".uids"),
		usernsPod("userns without maps", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}, userns+".uids"),
		usernsPod("userns mapping host root", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: idmap(0, 0, 65536), Gids: good}, userns+".uids[0].host_id"),
		usernsPod("userns overflowing ids", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: good, Gids: idmap(0, 4294967000, 65536)}, userns+".gids[0]"),
		usernsPod("userns root unmapped", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: idmap(1, 1<<20, 65536), Gids: good}, userns+".uids"),
		usernsPod("userns with 100000 maps", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: many, Gids: good}, userns+".uids"),
		invalid("RunPodSandbox/no config", func(h *hostile) func(ctx context.Context) (any, error) {
			return func(ctx context.Context) (any, error) {
				return h.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{})
			}
		}, "config"),
		pod("no metadata", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata = nil }, "config.metadata"),
		pod("empty name", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "" }, "config.metadata.name"),
		pod("name with NUL", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Name += "\x00x" }, "config.metadata.name"),
		pod("name with newline", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Name += "\nx" }, "config.metadata.name"),
		pod("name of 1 MiB", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = huge }, "config.metadata.name"),
		pod("name with slash", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "../../" + hostMarker }, "config.metadata.name"),
		pod("namespace with NUL", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = "a\x00b" }, "config.metadata.namespace"),
		pod("namespace of 1 MiB", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = huge }, "config.metadata.namespace"),
		pod("uid with newline", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid += "\nx" }, "config.metadata.uid"),
		pod("hostname with newline", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Hostname = "host\nname" }, "config.hostname"),
		pod("hostname with NUL", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Hostname = "host\x00name" }, "config.hostname"),
		pod("hostname of 1 MiB", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Hostname = huge }, "config.hostname"),
		pod("hostname with slash", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Hostname = "../" + hostMarker }, "config.hostname"),
		pod("relative log_directory", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.LogDirectory = "logs/pod" }, "config.log_directory"),
		pod("log_directory with NUL", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.LogDirectory += "\x00x" }, "config.log_directory"),
		pod("log_directory not clean", func(_ *hostile, c *runtimeapi.PodSandboxConfig) {
			c.LogDirectory += "/../../../../../../etc/" + hostMarker
		}, "config.log_directory"),
		pod("log_directory of 1 MiB", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.LogDirectory = "/" + huge }, "config.log_directory"),
		dns("DNS server not an IP", &runtimeapi.DNSConfig{Servers: []string{"not-an-ip"}}, "config.dns_config.servers"),
		dns("DNS server with newline", &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10\nnameserver 6.6.6.6"}}, "config.dns_config.servers"),
		dns("DNS server with port", &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10:53"}}, "config.dns_config.servers"),
		dns("DNS search with newline", &runtimeapi.DNSConfig{Searches: []string{"svc.cluster.local\nnameserver 6.6.6.6"}}, "config.dns_config.searches"),
		dns("DNS search with NUL", &runtimeapi.DNSConfig{Searches: []string{"a\x00b"}}, "config.dns_config.searches"),
		dns("DNS search with space", &runtimeapi.DNSConfig{Searches: []string{"a.local b.local"}}, "config.dns_config.searches"),
		dns("DNS option with newline", &runtimeapi.DNSConfig{Options: []string{"ndots:5\nnameserver 6.6.6.6"}}, "config.dns_config.options"),
		dns("DNS option of 1 MiB", &runtimeapi.DNSConfig{Options: []string{huge}}, "config.dns_config.options"),
		port("host_ip with shell", &runtimeapi.PortMapping{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: 18080, HostIp: "not-an-ip;rm -rf /"}, "host_ip"),
		port("protocol 99", &runtimeapi.PortMapping{Protocol: 99, ContainerPort: 80, HostPort: 18081}, "protocol"),
		port("container_port 70000", &runtimeapi.PortMapping{ContainerPort: 70000, HostPort: 18082}, "container_port"),
		port("container_port -1", &runtimeapi.PortMapping{ContainerPort: -1, HostPort: 18083}, "container_port"),
		port("container_port 0", &runtimeapi.PortMapping{ContainerPort: 0, HostPort: 18084}, "container_port"),
		port("host_port 70000", &runtimeapi.PortMapping{ContainerPort: 80, HostPort: 70000}, "host_port"),
		port("host_port -1", &runtimeapi.PortMapping{ContainerPort: 80, HostPort: -1}, "host_port"),
		sysctl("kernel.domainname on a host-network pod", "kernel.domainname", hostMarker, hostNetwork),
		sysctl("kernel.hostname on a host-network pod", "kernel.hostname", hostMarker, hostNetwork),
		sysctl("net sysctl on a host-network pod", "net.ipv4.ip_unprivileged_port_start", "0", hostNetwork),
		sysctl("kernel.shm_rmid_forced on a host-IPC pod", "kernel.shm_rmid_forced", "1", hostIPC),
		sysctl("host-wide kernel.panic", "kernel.panic", "17", nil),
		sysctl("host-wide kernel.core_pattern", "kernel.core_pattern", "|/tmp/"+hostMarker, nil),
		sysctl("host-wide vm.swappiness", "vm.swappiness", "17", nil),
		sysctl("host-wide fs.file-max", "fs.file-max", "17", nil),
		sysctl("key with slash traversal", "net/ipv4/../../kernel/panic", "17", nil),
		sysctl("key with dot-dot", "net.ipv4..conf", "1", nil),
		sysctl("key naming a path out of net", "net.ipv4.ip_forward/../../../kernel/core_pattern", "|/tmp/"+hostMarker, nil),
		sysctl("key with NUL", "net.ipv4.ip_forward\x00", "1", nil),
		sysctl("value with newline", "net.ipv4.ip_unprivileged_port_start", "1\n2", nil),
		sysctl("unknown key", "net.ipv4.no_such_knob", "1", nil),
		pod("label of 1 MiB", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Labels["big"] = huge }, "config.labels"),
		pod("annotation of 1 MiB", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Annotations = map[string]string{"big": huge} }, "config.annotations"),
		pod("100000 labels", func(_ *hostile, c *runtimeapi.PodSandboxConfig) {
			for i := range 100000 {
				c.Labels[fmt.Sprintf("l%d", i)] = "v"
			}
		}, "config.labels"),
		pod("label key with NUL", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Labels["a\x00b"] = "v" }, "config.labels"),
		pod("cgroup_parent traversal", func(h *hostile, c *runtimeapi.PodSandboxConfig) {
			c.Linux.CgroupParent = h.cgroupParent + "/../../../" + hostMarker
		}, "config.linux.cgroup_parent"),
		pod("relative cgroup_parent", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Linux.CgroupParent = hostMarker + "/pod" }, "config.linux.cgroup_parent"),
		pod("cgroup_parent with NUL", func(_ *hostile, c *runtimeapi.PodSandboxConfig) { c.Linux.CgroupParent += "\x00x" }, "config.linux.cgroup_parent"),
		invalid("RunPodSandbox/unknown runtime_handler", func(h *hostile) func(ctx context.Context) (any, error) {
			c := h.podConfig(h.t, fmt.Sprintf("hostile-pod-%d", h.n))
			return func(ctx context.Context) (any, error) {
				return h.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: c, RuntimeHandler: "no-such-handler"})
			}
		}, "runtime_handler"),
		pod("seccomp localhost_ref /dev/zero", func(_ *hostile, c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{Seccomp: &runtimeapi.SecurityProfile{
				ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/dev/zero"}}
		}, "config.linux.security_context.seccomp.localhost_ref"),
	}
}

// ctr is a CreateContainer case in the base pod: a valid container
// changed by mutate.
func ctr(name string, mutate func(h *hostile, c *runtimeapi.ContainerConfig), fields ...string) hostileCase {
	return invalid("CreateContainer/"+name, func(h *hostile) func(ctx context.Context) (any, error) {
		c := h.containerConfig(fmt.Sprintf("hostile-%d", h.n), "true")
		mutate(h, c)
		return func(ctx context.Context) (any, error) {
			return h.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: h.pod, Config: c, SandboxConfig: h.podCfg})
		}
	}, fields...)
}

// securityContext returns c's security context, made if missing.
func securityContext(c *runtimeapi.ContainerConfig) *runtimeapi.LinuxContainerSecurityContext {
	if c.Linux.SecurityContext == nil {
		c.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{}
	}
	return c.Linux.SecurityContext
}

func resources(c *runtimeapi.ContainerConfig) *runtimeapi.LinuxContainerResources {
	if c.Linux.Resources == nil {
		c.Linux.Resources = &runtimeapi.LinuxContainerResources{}
	}
	return c.Linux.Resources
}

func containerCases() []hostileCase {
	const (
		seccompRef  = "config.linux.security_context.seccomp.localhost_ref"
		apparmorRef = "config.linux.security_context.apparmor.localhost_ref"
	)
	seccomp := func(name string, ref func(h *hostile) string) hostileCase {
		return ctr(name, func(h *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: ref(h)}
		}, seccompRef)
	}
	fixed := func(s string) func(*hostile) string { return func(*hostile) string { return s } }
	mount := func(name string, m *runtimeapi.Mount, field string) hostileCase {
		return ctr(name, func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Mounts = []*runtimeapi.Mount{m} }, "config.mounts", field)
	}
	// An image volume of the container's own image, showing sub.
	imageVolume := func(name, sub, field string) hostileCase {
		return ctr(name, func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/mnt", Readonly: true, Image: &runtimeapi.ImageSpec{Image: c.Image.Image}, ImageSubPath: sub}}
		}, "config.mounts", field)
	}
	device := func(name string, d *runtimeapi.Device, field string) hostileCase {
		return ctr(name, func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Devices = []*runtimeapi.Device{d} }, "config.devices", field)
	}
	return []hostileCase{
		invalid("CreateContainer/no config", func(h *hostile) func(ctx context.Context) (any, error) {
			return func(ctx context.Context) (any, error) {
				return h.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: h.pod, SandboxConfig: h.podCfg})
			}
		}, "config"),
		ctr("no metadata", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Metadata = nil }, "config.metadata"),
		ctr("name with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Metadata.Name += "\x00x" }, "config.metadata.name"),
		ctr("name with newline", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Metadata.Name += "\nx" }, "config.metadata.name"),
		ctr("name of 1 MiB", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Metadata.Name = huge }, "config.metadata.name"),
		ctr("name with slash", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Metadata.Name = "../../" + hostMarker }, "config.metadata.name"),
		ctr("no image", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Image = nil }, "config.image"),
		ctr("image reference malformed", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Image.Image = "UPPER/Case:bad tag" }, "config.image.image"),
		ctr("image reference with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Image.Image += "\x00x" }, "config.image.image"),
		ctr("log_path traversal", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.LogPath = escapePath }, "config.log_path"),
		ctr("log_path deep traversal to /etc", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.LogPath = strings.Repeat("../", 32) + "etc/" + hostMarker + ".log"
		}, "config.log_path"),
		ctr("absolute log_path", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.LogPath = "/etc/" + hostMarker + ".log" }, "config.log_path"),
		ctr("log_path traversal inside", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.LogPath = "sub/../../" + hostMarker + ".log" }, "config.log_path"),
		ctr("log_path dot", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.LogPath = "." }, "config.log_path"),
		ctr("log_path with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.LogPath = hostMarker + "\x00.log" }, "config.log_path"),
		ctr("log_path of 1 MiB", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.LogPath = huge }, "config.log_path"),
		mount("relative container_path", &runtimeapi.Mount{ContainerPath: "relative/path", HostPath: "/tmp"}, "container_path"),
		mount("container_path traversal", &runtimeapi.Mount{ContainerPath: "../../../../etc/" + hostMarker, HostPath: "/tmp"}, "container_path"),
		mount("container_path with NUL", &runtimeapi.Mount{ContainerPath: "/mnt\x00x", HostPath: "/tmp"}, "container_path"),
		mount("host_path with NUL", &runtimeapi.Mount{ContainerPath: "/mnt", HostPath: "/tmp\x00x"}, "host_path"),
		mount("relative host_path traversal", &runtimeapi.Mount{ContainerPath: "/mnt", HostPath: "../../../../etc"}, "host_path"),
		mount("empty host_path", &runtimeapi.Mount{ContainerPath: "/mnt"}, "host_path"),
		mount("propagation 99", &runtimeapi.Mount{ContainerPath: "/mnt", HostPath: "/tmp", Propagation: 99}, "propagation"),
		imageVolume("image volume sub path traversal", "../../../../etc", "image_sub_path"),
		imageVolume("image volume absolute sub path", "/etc", "image_sub_path"),
		imageVolume("image volume sub path with NUL", "etc\x00x", "image_sub_path"),
		imageVolume("image volume sub path missing", hostMarker, "image_sub_path"),
		imageVolume("image volume sub path of 1 MiB", huge, "image_sub_path"),
		ctr("writable image volume", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/mnt", Image: &runtimeapi.ImageSpec{Image: c.Image.Image}}}
		}, "config.mounts[0].readonly"),
		ctr("image volume with a host_path", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/mnt", HostPath: "/etc", Readonly: true, Image: &runtimeapi.ImageSpec{Image: c.Image.Image}}}
		}, "config.mounts[0].host_path"),
		mount("image volume reference with NUL", &runtimeapi.Mount{ContainerPath: "/mnt", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "busybox\x00x"}}, "image.image"),
		mount("sub path of a host path", &runtimeapi.Mount{ContainerPath: "/mnt", HostPath: "/tmp", ImageSubPath: "etc"}, "image_sub_path"),
		device("device host_path not a device", &runtimeapi.Device{ContainerPath: "/dev/x", HostPath: "/etc/passwd", Permissions: "rwm"}, "host_path"),
		device("device relative container_path", &runtimeapi.Device{ContainerPath: "dev/x", HostPath: "/dev/null", Permissions: "rwm"}, "container_path"),
		device("device permissions rwxz", &runtimeapi.Device{ContainerPath: "/dev/x", HostPath: "/dev/null", Permissions: "rwxz"}, "permissions"),
		seccomp("seccomp localhost_ref /dev/zero", fixed("/dev/zero")),
		seccomp("seccomp localhost_ref FIFO", func(h *hostile) string { return h.fifo }),
		seccomp("seccomp localhost_ref relative", fixed("profiles/"+hostMarker+".json")),
		seccomp("seccomp localhost_ref directory", func(h *hostile) string { return h.dir }),
		seccomp("seccomp localhost_ref 1 GiB", func(h *hostile) string { return h.huge }),
		seccomp("seccomp localhost_ref not JSON", func(h *hostile) string { return h.notJSON }),
		seccomp("seccomp localhost_ref /etc/shadow", fixed("/etc/shadow")),
		seccomp("seccomp localhost_ref missing", fixed("/nonexistent/"+hostMarker+".json")),
		seccomp("seccomp localhost_ref empty", fixed("")),
		ctr("seccomp profile_type 99", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).Seccomp = &runtimeapi.SecurityProfile{ProfileType: 99}
		}, "config.linux.security_context.seccomp.profile_type"),
		ctr("deprecated seccomp_profile_path /dev/zero", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).SeccompProfilePath = "localhost//dev/zero"
		}, "config.linux.security_context.seccomp_profile_path"),
		ctr("cdi device name with traversal", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "../../etc/" + hostMarker}}
		}, "config.cdi_devices[0].name"),
		ctr("cdi device name of 1 MiB", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "vendor.com/class=" + strings.Repeat("a", 1<<20)}}
		}, "config.cdi_devices[0].name"),
		ctr("cdi device name with newline", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "vendor.com/class=a\nb"}}
		}, "config.cdi_devices[0].name"),
		ctr("cdi devices, too many", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			for i := range 1000 {
				c.CDIDevices = append(c.CDIDevices, &runtimeapi.CDIDevice{Name: fmt.Sprintf("vendor.com/class=d%d", i)})
			}
		}, "config.cdi_devices"),
		ctr("cdi device no spec names", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "vendor.com/class=missing"}}
		}, "config.cdi_devices"),
		ctr("cdi annotation that does not parse", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.Annotations = map[string]string{"cdi.k8s.io/plugin_dev": "not a device"}
		}, "config.annotations"),
		ctr("apparmor localhost_ref with newline", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "x\nchange_profile unconfined"}
		}, apparmorRef),
		ctr("apparmor localhost_ref with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "x\x00y"}
		}, apparmorRef),
		ctr("apparmor localhost_ref traversal", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "../../../../etc/" + hostMarker}
		}, apparmorRef),
		ctr("apparmor profile_type 99", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: 99}
		}, "config.linux.security_context.apparmor.profile_type"),
		ctr("deprecated apparmor_profile with newline", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).ApparmorProfile = "localhost/x\ny"
		}, "config.linux.security_context.apparmor_profile"),
		ctr("label of 1 MiB", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Labels = map[string]string{"big": huge} }, "config.labels"),
		ctr("annotation of 1 MiB", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Annotations = map[string]string{"big": huge} }, "config.annotations"),
		ctr("env key with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.Envs = []*runtimeapi.KeyValue{{Key: "A\x00B", Value: []byte("v")}}
		}, "config.envs"),
		ctr("env key with =", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.Envs = []*runtimeapi.KeyValue{{Key: "LD_PRELOAD=/x A", Value: []byte("v")}}
		}, "config.envs"),
		ctr("env value with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			c.Envs = []*runtimeapi.KeyValue{{Key: "A", Value: []byte("v\x00w")}}
		}, "config.envs"),
		ctr("relative working_dir", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.WorkingDir = "rel/dir" }, "config.working_dir"),
		ctr("working_dir with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.WorkingDir = "/x\x00y" }, "config.working_dir"),
		ctr("command with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Command = []string{"sh\x00", "-c", "true"} }, "config.command"),
		ctr("args with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Args = []string{"a\x00b"} }, "config.args"),
		ctr("negative memory limit", func(_ *hostile, c *runtimeapi.ContainerConfig) { resources(c).MemoryLimitInBytes = -5 }, "config.linux.resources.memory_limit_in_bytes"),
		ctr("oom_score_adj 5000", func(_ *hostile, c *runtimeapi.ContainerConfig) { resources(c).OomScoreAdj = 5000 }, "config.linux.resources.oom_score_adj"),
		ctr("hugepage page size bad", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			resources(c).HugepageLimits = []*runtimeapi.HugepageLimit{{PageSize: "../../x", Limit: 1}}
		}, "config.linux.resources.hugepage_limits"),
		ctr("unified key traversal", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			resources(c).Unified = map[string]string{"../../../cgroup.procs": "1"}
		}, "config.linux.resources.unified"),
		ctr("unified key with newline", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			resources(c).Unified = map[string]string{"memory.max\n": "1"}
		}, "config.linux.resources.unified"),
		ctr("unified cgroup.procs", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			resources(c).Unified = map[string]string{"cgroup.procs": "1"}
		}, "config.linux.resources.unified"),
		ctr("run_as_username with newline", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).RunAsUsername = "root\nx"
		}, "config.linux.security_context.run_as_username"),
		ctr("relative masked_path", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).MaskedPaths = []string{"proc/kcore"}
		}, "config.linux.security_context.masked_paths"),
		ctr("readonly_path with NUL", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).ReadonlyPaths = []string{"/proc\x00x"}
		}, "config.linux.security_context.readonly_paths"),
		ctr("unknown capability", func(_ *hostile, c *runtimeapi.ContainerConfig) {
			securityContext(c).Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"CAP_NOT_REAL"}}
		}, "config.linux.security_context.capabilities.add_capabilities"),
		ctr("stop_signal 99", func(_ *hostile, c *runtimeapi.ContainerConfig) { c.StopSignal = 99 }, "config.stop_signal"),
	}
}

// idRPC is an RPC that takes one id, named by field.
type idRPC struct {
	rpc, field string
	// idempotent: the CRI wants success for an id that is not there.
	idempotent bool
	call       func(h *hostile, ctx context.Context, id string) (any, error)
}

func idRPCs() []idRPC {
	return []idRPC{
		{"CreateContainer", "pod_sandbox_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: h.containerConfig("id-case", "true"), SandboxConfig: h.podCfg})
		}},
		{"StartContainer", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
		}},
		{"StopContainer", "container_id", true, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 1})
		}},
		{"RemoveContainer", "container_id", true, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
		}},
		{"ContainerStatus", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
		}},
		{"UpdateContainerResources", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{CpuShares: 512}})
		}},
		{"ReopenContainerLog", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id})
		}},
		{"ExecSync", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"true"}, Timeout: 5})
		}},
		{"Exec", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"true"}, Stdout: true})
		}},
		{"Attach", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Stdout: true})
		}},
		{"CheckpointContainer", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: id, Location: "/tmp/" + hostMarker + "-checkpoint.tar"})
		}},
		{"ContainerStats", "container_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
		}},
		{"PortForward", "pod_sandbox_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: id, Port: []int32{80}})
		}},
		{"PodSandboxStatus", "pod_sandbox_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
		}},
		{"StopPodSandbox", "pod_sandbox_id", true, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		}},
		{"RemovePodSandbox", "pod_sandbox_id", true, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
		}},
		{"PodSandboxStats", "pod_sandbox_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: id})
		}},
		{"UpdatePodSandboxResources", "pod_sandbox_id", false, func(h *hostile, ctx context.Context, id string) (any, error) {
			return h.rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: id, Resources: &runtimeapi.LinuxContainerResources{CpuShares: 512}})
		}},
	}
}

// idCases send every id-taking RPC a missing id (InvalidArgument naming
// the field) and ids that name nothing: a well-formed unknown one, a path
// traversal, one with NUL and one of 1 MiB (NotFound, or success where the
// CRI makes the call idempotent).
func idCases() []hostileCase {
	var cs []hostileCase
	for _, r := range idRPCs() {
		cs = append(cs, invalid(r.rpc+"/empty "+r.field, func(h *hostile) func(ctx context.Context) (any, error) {
			return func(ctx context.Context) (any, error) { return r.call(h, ctx, "") }
		}, r.field))
		for _, bad := range []struct{ name, id string }{
			{"unknown", unknownID},
			{"traversal", "../../../../etc/" + hostMarker},
			{"with NUL", "abc\x00def"},
			{"of 1 MiB", huge},
		} {
			code := codes.NotFound
			if r.idempotent {
				code = codes.OK
			}
			cs = append(cs, hostileCase{name: r.rpc + "/" + bad.name + " " + r.field, code: code,
				prepare: func(h *hostile) func(ctx context.Context) (any, error) {
					return func(ctx context.Context) (any, error) { return r.call(h, ctx, bad.id) }
				}})
		}
	}
	return cs
}

// rt is a case calling the RuntimeService with the base pod and
// container at hand.
func rt(name string, code codes.Code, call func(h *hostile, ctx context.Context) (any, error), fields ...string) hostileCase {
	return hostileCase{name: name, code: code, fields: fields, prepare: func(h *hostile) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) { return call(h, ctx) }
	}}
}

// empty checks that a list answer lists nothing.
func empty(resp any) error {
	m := resp.(proto.Message)
	var n int
	switch r := m.(type) {
	case *runtimeapi.ListPodSandboxResponse:
		n = len(r.Items)
	case *runtimeapi.ListContainersResponse:
		n = len(r.Containers)
	case *runtimeapi.ListContainerStatsResponse:
		n = len(r.Stats)
	case *runtimeapi.ListPodSandboxStatsResponse:
		n = len(r.Stats)
	case *runtimeapi.ListImagesResponse:
		n = len(r.Images)
	}
	if n != 0 {
		return fmt.Errorf("a filter that matches nothing listed %d items", n)
	}
	return nil
}

func requestCases() []hostileCase {
	I := codes.InvalidArgument
	execSync := func(name string, req func(h *hostile) *runtimeapi.ExecSyncRequest, fields ...string) hostileCase {
		return rt("ExecSync/"+name, I, func(h *hostile, ctx context.Context) (any, error) { return h.rt.ExecSync(ctx, req(h)) }, fields...)
	}
	exec := func(name string, req func(h *hostile) *runtimeapi.ExecRequest, fields ...string) hostileCase {
		return rt("Exec/"+name, I, func(h *hostile, ctx context.Context) (any, error) { return h.rt.Exec(ctx, req(h)) }, fields...)
	}
	attach := func(name string, req func(h *hostile) *runtimeapi.AttachRequest, fields ...string) hostileCase {
		return rt("Attach/"+name, I, func(h *hostile, ctx context.Context) (any, error) { return h.rt.Attach(ctx, req(h)) }, fields...)
	}
	update := func(name string, res *runtimeapi.LinuxContainerResources, fields ...string) hostileCase {
		return rt("UpdateContainerResources/"+name, I, func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: h.ctr, Linux: res})
		}, fields...)
	}
	cidr := func(name, value string) hostileCase {
		return rt("UpdateRuntimeConfig/"+name, I, func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: value}}})
		}, "runtime_config.network_config.pod_cidr")
	}
	list := func(name string, call func(h *hostile, ctx context.Context) (any, error)) hostileCase {
		c := rt(name, codes.OK, call)
		c.check = empty
		return c
	}
	return []hostileCase{
		execSync("empty command", func(h *hostile) *runtimeapi.ExecSyncRequest {
			return &runtimeapi.ExecSyncRequest{ContainerId: h.ctr, Timeout: 5}
		}, "cmd"),
		execSync("command with NUL", func(h *hostile) *runtimeapi.ExecSyncRequest {
			return &runtimeapi.ExecSyncRequest{ContainerId: h.ctr, Cmd: []string{"sh\x00", "-c", "true"}, Timeout: 5}
		}, "cmd"),
		execSync("negative timeout", func(h *hostile) *runtimeapi.ExecSyncRequest {
			return &runtimeapi.ExecSyncRequest{ContainerId: h.ctr, Cmd: []string{"true"}, Timeout: -1}
		}, "timeout"),
		exec("empty command", func(h *hostile) *runtimeapi.ExecRequest {
			return &runtimeapi.ExecRequest{ContainerId: h.ctr, Stdout: true}
		}, "cmd"),
		exec("tty with stderr", func(h *hostile) *runtimeapi.ExecRequest {
			return &runtimeapi.ExecRequest{ContainerId: h.ctr, Cmd: []string{"true"}, Tty: true, Stdout: true, Stderr: true}
		}, "stderr"),
		exec("no stream", func(h *hostile) *runtimeapi.ExecRequest {
			return &runtimeapi.ExecRequest{ContainerId: h.ctr, Cmd: []string{"true"}}
		}, "stdin", "stdout", "stderr"),
		attach("tty with stderr", func(h *hostile) *runtimeapi.AttachRequest {
			return &runtimeapi.AttachRequest{ContainerId: h.ctr, Tty: true, Stdout: true, Stderr: true}
		}, "stderr"),
		attach("no stream", func(h *hostile) *runtimeapi.AttachRequest {
			return &runtimeapi.AttachRequest{ContainerId: h.ctr}
		}, "stdin", "stdout", "stderr"),
		rt("PortForward/port -1", I, func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: h.pod, Port: []int32{-1}})
		}, "port"),
		rt("PortForward/port 70000", I, func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: h.pod, Port: []int32{70000}})
		}, "port"),
		update("no resources", nil, "linux"),
		update("negative memory limit", &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -5}, "linux.memory_limit_in_bytes"),
		update("unified key traversal", &runtimeapi.LinuxContainerResources{Unified: map[string]string{"../../../cgroup.procs": "1"}}, "linux.unified"),
		update("unified cgroup.procs", &runtimeapi.LinuxContainerResources{Unified: map[string]string{"cgroup.procs": "1"}}, "linux.unified"),
		rt("UpdatePodSandboxResources/unified key traversal", I, func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: h.pod,
				Resources: &runtimeapi.LinuxContainerResources{Unified: map[string]string{"../../../cgroup.procs": "1"}}})
		}, "resources.unified"),
		cidr("pod_cidr not a CIDR", "not-a-cidr"),
		cidr("pod_cidr prefix 33", "10.0.0.0/33"),
		cidr("pod_cidr with newline", "10.0.0.0/8\n"),
		cidr("pod_cidr with shell", "10.0.0.0/8;rm -rf /"),
		rt("ListPodSandbox/filter state 99", I, func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: 99}}})
		}, "filter.state"),
		rt("ListContainers/filter state 99", I, func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: 99}}})
		}, "filter.state"),
		list("ListPodSandbox/filter id traversal", func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{Id: "../../../../etc"}})
		}),
		list("ListPodSandbox/filter label of 1 MiB", func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{huge: "x"}}})
		}),
		list("ListContainers/filter pod id with NUL", func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: "a\x00b"}})
		}),
		list("ListContainerStats/filter pod id traversal", func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: "../../../../etc"}})
		}),
		list("ListPodSandboxStats/filter id of 1 MiB", func(h *hostile, ctx context.Context) (any, error) {
			return h.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{Filter: &runtimeapi.PodSandboxStatsFilter{Id: huge}})
		}),
		checkpoint("location traversal", "../../../../etc/"+hostMarker+".tar", 0, "location"),
		checkpoint("location with NUL", "/tmp/"+hostMarker+"\x00.tar", 0, "location"),
		checkpoint("location of 1 MiB", "/"+huge, 0, "location"),
		checkpoint("location unclean", "/tmp/../etc/"+hostMarker+".tar", 0, "location"),
		checkpoint("location /etc/passwd", "/etc/passwd", 0, "location"),
		checkpoint("location through /proc/self/root", "/proc/self/root/tmp/"+hostMarker+".tar", 0, "location"),
		checkpoint("location in a missing directory", "/nonexistent-"+hostMarker+"/c.tar", 0, "location"),
		checkpoint("negative timeout", "/tmp/"+hostMarker+".tar", -1, "timeout"),
		restoreArchive("/etc/passwd, not an archive", "/etc/passwd"),
		restoreArchive("a directory", "/etc"),
		restoreArchive("through /proc/self/root", "/proc/self/root/etc/passwd"),
		restoreArchive("unclean", "/tmp/../etc/passwd"),
		restoreArchive("missing", "/nonexistent-"+hostMarker+".tar"),
		podCheckpoint("output_path relative", "tmp/"+hostMarker, nil, "output_path"),
		podCheckpoint("output_path unclean", "/tmp/../etc", nil, "output_path"),
		podCheckpoint("output_path /etc, not empty", "/etc", nil, "output_path"),
		podCheckpoint("output_path through /proc/self/root", "/proc/self/root/tmp", nil, "output_path"),
		podCheckpoint("output_path with NUL", "/tmp/"+hostMarker+"\x00", nil, "output_path"),
		podCheckpoint("unknown option", "/nonexistent-"+hostMarker, map[string]string{"leave-running": "false"}, "options[leave-running]"),
		podRestore("checkpoint_path /etc, no checkpoint", "/etc", nil, "checkpoint_path"),
		podRestore("checkpoint_path traversal", "../../../../etc", nil, "checkpoint_path"),
		podRestore("checkpoint_path of 1 MiB", "/"+huge, nil, "checkpoint_path"),
		podRestore("unknown option", "/etc", map[string]string{"x": "y"}, "options[x]"),
	}
}

// restoreArchive is a CreateContainer whose image is path, as a restore
// from a checkpoint archive.
func restoreArchive(name, path string) hostileCase {
	return ctr("checkpoint archive "+name, func(_ *hostile, c *runtimeapi.ContainerConfig) { c.Image.Image = path }, "config.image.image")
}

// podCheckpoint is a CheckpointPod of the base pod's container into dir.
func podCheckpoint(name, dir string, opts map[string]string, field string) hostileCase {
	return rt("CheckpointPod/"+name, codes.InvalidArgument, func(h *hostile, ctx context.Context) (any, error) {
		return h.rt.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: h.pod, OutputPath: dir, ContainerIds: []string{h.ctr}, Options: opts})
	}, field)
}

// podRestore is a RestorePod from dir of one container of the base pod's
// config.
func podRestore(name, dir string, opts map[string]string, field string) hostileCase {
	return rt("RestorePod/"+name, codes.InvalidArgument, func(h *hostile, ctx context.Context) (any, error) {
		return h.rt.RestorePod(ctx, &runtimeapi.RestorePodRequest{CheckpointPath: dir, Config: h.podCfg, Options: opts,
			ContainerConfigs: []*runtimeapi.ContainerConfig{h.containerConfig("restored", "true")}})
	}, field)
}

// checkpoint is a CheckpointContainer of the base container at location.
func checkpoint(name, location string, timeout int64, field string) hostileCase {
	return rt("CheckpointContainer/"+name, codes.InvalidArgument, func(h *hostile, ctx context.Context) (any, error) {
		return h.rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: h.ctr, Location: location, Timeout: timeout})
	}, field)
}

// badRefs are image references no registry or transport may be asked
// for: malformed, or naming a local transport.
var badRefs = []struct{ name, ref string }{
	{"upper case repository", "UPPER/Case:1"},
	{"space", "busy box:1"},
	{"NUL", "busybox\x00:1"},
	{"newline", "busybox:1\nx"},
	{"of 1 MiB", huge},
	{"path traversal", "../../../../etc/passwd"},
	{"bad digest", "busybox@sha256:nothex"},
	{"oci transport", "oci:/tmp/" + hostMarker + ":x"},
	{"dir transport", "dir:/etc"},
	{"docker-archive transport", "docker-archive:/etc/passwd"},
	{"docker:// transport", "docker://busybox:1"},
}

func imageCases() []hostileCase {
	I := codes.InvalidArgument
	var cs []hostileCase
	img := func(name string, call func(h *hostile, ctx context.Context) (any, error), fields ...string) hostileCase {
		return rt(name, I, call, fields...)
	}
	cs = append(cs,
		img("PullImage/no image", func(h *hostile, ctx context.Context) (any, error) {
			return h.img.PullImage(ctx, &runtimeapi.PullImageRequest{})
		}, "image"),
		img("PullImage/empty reference", func(h *hostile, ctx context.Context) (any, error) {
			return h.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{}})
		}, "image.image"),
		img("ImageStatus/empty reference", func(h *hostile, ctx context.Context) (any, error) {
			return h.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{}})
		}, "image.image"),
		img("RemoveImage/empty reference", func(h *hostile, ctx context.Context) (any, error) {
			return h.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{}})
		}, "image.image"),
		img("ListImages/filter malformed", func(h *hostile, ctx context.Context) (any, error) {
			return h.img.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: "UPPER/Case:1"}}})
		}, "filter.image.image"),
		rt("RemoveImage/unknown reference", codes.OK, func(h *hostile, ctx context.Context) (any, error) {
			return h.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: "crisp.test/" + hostMarker + ":1"}})
		}),
	)
	for _, r := range badRefs {
		cs = append(cs,
			img("PullImage/reference "+r.name, func(h *hostile, ctx context.Context) (any, error) {
				return h.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: r.ref}})
			}, "image.image"),
			img("ImageStatus/reference "+r.name, func(h *hostile, ctx context.Context) (any, error) {
				return h.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: r.ref}})
			}, "image.image"),
			img("RemoveImage/reference "+r.name, func(h *hostile, ctx context.Context) (any, error) {
				return h.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: r.ref}})
			}, "image.image"),
		)
	}
	return cs
}

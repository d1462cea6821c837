package spec

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// buildNamespaces returns the container's namespaces. Network, IPC and UTS
// are the pod's, joined by path (none: the host's). The PID namespace
// follows namespace_options.pid. Mount and cgroup namespaces are always the
// container's own, so /sys/fs/cgroup shows only its cgroup. The spec's
// hostname stays empty: a container either joins the pod's UTS namespace,
// whose hostname the pod set, or runs in the host's.
func buildNamespaces(c *Container) ([]specs.LinuxNamespace, error) {
	const field = "linux.security_context.namespace_options"
	opts := c.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	var nss []specs.LinuxNamespace
	join := func(t specs.LinuxNamespaceType, path string) {
		if path != "" {
			nss = append(nss, specs.LinuxNamespace{Type: t, Path: path})
		}
	}
	// The user namespace is the pod's: a container cannot leave it, nor
	// have one of its own.
	switch mode := opts.GetUsernsOptions().GetMode(); {
	case opts.GetUsernsOptions() == nil:
	case mode == runtimeapi.NamespaceMode_POD && c.Pod.UserNS == "":
		return nil, errdefs.InvalidField(field+".userns_options.mode", "POD needs a pod with its own user namespace")
	case mode == runtimeapi.NamespaceMode_NODE && c.Pod.UserNS != "":
		return nil, errdefs.InvalidField(field+".userns_options.mode", "NODE in a pod with its own user namespace")
	case mode != runtimeapi.NamespaceMode_POD && mode != runtimeapi.NamespaceMode_NODE:
		return nil, errdefs.InvalidField(field+".userns_options.mode", fmt.Sprintf("mode %s is not valid for a container", mode))
	}
	join(specs.UserNamespace, c.Pod.UserNS)
	join(specs.NetworkNamespace, c.Pod.NetNS)
	join(specs.IPCNamespace, c.Pod.IPCNS)
	join(specs.UTSNamespace, c.Pod.UTSNS)
	switch mode := opts.GetPid(); mode {
	case runtimeapi.NamespaceMode_POD:
		switch {
		case c.Pod.PIDNS != "":
			join(specs.PIDNamespace, c.Pod.PIDNS)
		case !c.Pod.HostPID:
			nss = append(nss, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}
	case runtimeapi.NamespaceMode_CONTAINER:
		nss = append(nss, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case runtimeapi.NamespaceMode_NODE:
		// The host's PID namespace is the pod's choice, not one container's.
		if !c.Pod.HostPID {
			return nil, errdefs.InvalidField(field+".pid", "NODE needs a pod in the host's PID namespace")
		}
	case runtimeapi.NamespaceMode_TARGET:
		if c.TargetPIDNS == "" {
			return nil, errdefs.InvalidField(field+".target_id", fmt.Sprintf("target container %q has no PID namespace to join", opts.GetTargetId()))
		}
		join(specs.PIDNamespace, c.TargetPIDNS)
	default:
		return nil, errdefs.InvalidField(field+".pid", fmt.Sprintf("unknown mode %d", mode))
	}
	nss = append(nss, specs.LinuxNamespace{Type: specs.MountNamespace}, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	return nss, nil
}

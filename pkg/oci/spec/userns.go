package spec

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// applyUserNamespace makes the spec of a container in a pod with its own
// user namespace (joined in buildNamespaces): the pod's maps, and idmapped
// mounts of config.mounts through that namespace, so that the pod's root
// owns what the host's root owns and what it writes belongs to the host's
// root as before. The rootfs is idmapped by the image store (its layers);
// the pod's own files (resolv.conf, hosts, hostname, /dev/shm) are not:
// they are read by everyone, and the pod's /dev/shm belongs to its root.
func applyUserNamespace(s *specs.Spec, c *Container) {
	if c.Pod.UserNS == "" {
		return
	}
	s.Linux.UIDMappings = slices.Clone(c.Pod.UIDMappings)
	s.Linux.GIDMappings = slices.Clone(c.Pod.GIDMappings)
	for _, cm := range c.Config.GetMounts() {
		for i := range s.Mounts {
			m := &s.Mounts[i]
			if m.Destination == cm.GetContainerPath() && m.Type == "bind" {
				m.UIDMappings = slices.Clone(c.Pod.UIDMappings)
				m.GIDMappings = slices.Clone(c.Pod.GIDMappings)
			}
		}
	}
}

// checkMountIDMappings takes config.mounts' own uid and gid maps only where
// they are the pod's: kubelet sends every volume of a hostUsers: false pod
// with the pod's maps, and applyUserNamespace idmaps such volumes through
// the pod's user namespace anyway. Other maps would need a user namespace
// per mount, which crisp does not make.
func checkMountIDMappings(c *Container) error {
	for i, m := range c.Config.GetMounts() {
		if len(m.GetUidMappings())+len(m.GetGidMappings()) == 0 {
			continue
		}
		field := fmt.Sprintf("mounts[%d].uid_mappings", i)
		switch {
		case c.Pod.UserNS == "":
			return fmt.Errorf("%s: id-mapped mounts outside a pod's own user namespace are not supported: %w", field, errdefs.ErrNotImplemented)
		case !sameIDMappings(m.GetUidMappings(), c.Pod.UIDMappings):
			return fmt.Errorf("%s: maps other than the pod's are not supported: %w", field, errdefs.ErrNotImplemented)
		case !sameIDMappings(m.GetGidMappings(), c.Pod.GIDMappings):
			return fmt.Errorf("mounts[%d].gid_mappings: maps other than the pod's are not supported: %w", i, errdefs.ErrNotImplemented)
		}
	}
	return nil
}

func sameIDMappings(cri []*runtimeapi.IDMapping, pod []specs.LinuxIDMapping) bool {
	if len(cri) != len(pod) {
		return false
	}
	for i, m := range cri {
		if m.GetContainerId() != pod[i].ContainerID || m.GetHostId() != pod[i].HostID || m.GetLength() != pod[i].Size {
			return false
		}
	}
	return true
}

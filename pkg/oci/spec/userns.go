package spec

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

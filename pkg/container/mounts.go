package container

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Mount is a volume of the container, as ContainerStatus reports it.
type Mount struct {
	ContainerPath     string `json:"containerPath"`
	HostPath          string `json:"hostPath"`
	Readonly          bool   `json:"readonly,omitempty"`
	RecursiveReadOnly bool   `json:"recursiveReadOnly,omitempty"`
	SelinuxRelabel    bool   `json:"selinuxRelabel,omitempty"`
	// Propagation is the CRI enum's name ("PROPAGATION_PRIVATE", ...),
	// which stays readable in the store.
	Propagation string `json:"propagation,omitempty"`
}

// mountsFromCRI copies the volumes of a container's config.
func mountsFromCRI(mounts []*runtimeapi.Mount) []Mount {
	var out []Mount
	for _, m := range mounts {
		if m == nil {
			continue
		}
		out = append(out, Mount{
			ContainerPath:     m.ContainerPath,
			HostPath:          m.HostPath,
			Readonly:          m.Readonly,
			RecursiveReadOnly: m.RecursiveReadOnly,
			SelinuxRelabel:    m.SelinuxRelabel,
			Propagation:       m.Propagation.String(),
		})
	}
	return out
}

// CRI returns the mount as ContainerStatus reports it.
func (m Mount) CRI() *runtimeapi.Mount {
	return &runtimeapi.Mount{
		ContainerPath:     m.ContainerPath,
		HostPath:          m.HostPath,
		Readonly:          m.Readonly,
		RecursiveReadOnly: m.RecursiveReadOnly,
		SelinuxRelabel:    m.SelinuxRelabel,
		Propagation:       runtimeapi.MountPropagation(runtimeapi.MountPropagation_value[m.Propagation]),
	}
}

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
	// Image is the image an image volume mounts, as config.mounts named
	// it; empty for a host path.
	Image string `json:"image,omitempty"`
	// ImageID is the ID of that image, once the volume is made.
	ImageID string `json:"imageID,omitempty"`
	// ImageSubPath is the path inside the image the volume shows.
	ImageSubPath string `json:"imageSubPath,omitempty"`
}

// IsImageVolume reports whether the mount is an image volume.
func (m Mount) IsImageVolume() bool { return m.Image != "" }

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
			Image:             m.GetImage().GetImage(),
			ImageSubPath:      m.ImageSubPath,
		})
	}
	return out
}

// CRI returns the mount as ContainerStatus reports it: an image volume
// with its image and the ID of the image mounted (image_ref), which is
// what PullImage answered for it.
func (m Mount) CRI() *runtimeapi.Mount {
	var img *runtimeapi.ImageSpec
	if m.IsImageVolume() {
		img = &runtimeapi.ImageSpec{Image: m.Image, ImageRef: m.ImageID}
	}
	return &runtimeapi.Mount{
		Image:             img,
		ImageSubPath:      m.ImageSubPath,
		ContainerPath:     m.ContainerPath,
		HostPath:          m.HostPath,
		Readonly:          m.Readonly,
		RecursiveReadOnly: m.RecursiveReadOnly,
		SelinuxRelabel:    m.SelinuxRelabel,
		Propagation:       runtimeapi.MountPropagation(runtimeapi.MountPropagation_value[m.Propagation]),
	}
}

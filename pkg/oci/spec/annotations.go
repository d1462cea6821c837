package spec

import "maps"

// Annotations crisp writes on a container's spec: the keys containerd's CRI
// plugin writes, so that tools reading OCI specs (crictl inspect, NRI
// plugins, monitoring agents) recognise a Kubernetes container.
const (
	AnnotationContainerType    = "io.kubernetes.cri.container-type"
	AnnotationContainerName    = "io.kubernetes.cri.container-name"
	AnnotationSandboxID        = "io.kubernetes.cri.sandbox-id"
	AnnotationSandboxName      = "io.kubernetes.cri.sandbox-name"
	AnnotationSandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnotationSandboxUID       = "io.kubernetes.cri.sandbox-uid"
	AnnotationImageName        = "io.kubernetes.cri.image-name"
	// AnnotationImageID is crisp's own: the image ID the container runs.
	AnnotationImageID = "io.github.crisp-runtime.crisp.image-id"

	// ContainerTypeContainer is the container-type of an application
	// container (a pod sandbox is "sandbox").
	ContainerTypeContainer = "container"
)

// buildAnnotations returns config.annotations plus the CRI ones, which win
// over a config annotation of the same key so that no container can pose
// as another pod's.
func buildAnnotations(c *Container) map[string]string {
	a := maps.Clone(c.Config.GetAnnotations())
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationContainerType] = ContainerTypeContainer
	a[AnnotationContainerName] = c.Config.GetMetadata().GetName()
	a[AnnotationSandboxID] = c.Pod.ID
	a[AnnotationSandboxName] = c.Pod.Name
	a[AnnotationSandboxNamespace] = c.Pod.Namespace
	a[AnnotationSandboxUID] = c.Pod.UID
	a[AnnotationImageName] = c.ImageName
	if c.ImageRef != "" {
		a[AnnotationImageID] = c.ImageRef
	}
	return a
}

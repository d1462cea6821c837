package container

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/oci/spec"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// podSpec is what a container's OCI spec takes from its pod: the pinned
// namespaces to join, the pod's files and its privilege.
func podSpec(sb *sandbox.Sandbox) spec.Pod {
	p := spec.Pod{
		ID:         sb.ID,
		Name:       sb.Spec.Metadata.Name,
		Namespace:  sb.Spec.Metadata.Namespace,
		UID:        sb.Spec.Metadata.UID,
		NetNS:      sb.Namespaces[sandbox.NamespaceNet],
		IPCNS:      sb.Namespaces[sandbox.NamespaceIPC],
		UTSNS:      sb.Namespaces[sandbox.NamespaceUTS],
		HostPID:    sb.Spec.PIDMode == sandbox.ModeNode,
		ShmDir:     sb.Shm,
		Privileged: sb.Spec.Privileged,
	}
	if u := sb.Spec.UserNS; u != nil {
		p.UserNS = sb.Namespaces[sandbox.NamespaceUser]
		p.UIDMappings, p.GIDMappings = ociIDMappings(u.UIDs), ociIDMappings(u.GIDs)
	}
	if sb.Spec.PIDMode == sandbox.ModePod {
		p.PIDNS = sb.Namespaces[sandbox.NamespacePID]
	}
	if sb.Dir != "" {
		p.ResolvConf = filepath.Join(sb.Dir, sandbox.ResolvConfFile)
		p.Hosts = filepath.Join(sb.Dir, sandbox.HostsFile)
		p.Hostname = filepath.Join(sb.Dir, sandbox.HostnameFile)
	}
	return p
}

func ociIDMappings(maps []sandbox.IDMapping) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, 0, len(maps))
	for _, m := range maps {
		out = append(out, specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	return out
}

func imageIDMappings(maps []sandbox.IDMapping) []image.IDMapping {
	out := make([]image.IDMapping, 0, len(maps))
	for _, m := range maps {
		out = append(out, image.IDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	return out
}

package container

import (
	"path/filepath"

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

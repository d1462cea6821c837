package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// sysctlNamespace says which pod namespace a sysctl belongs to; a sysctl
// that belongs to none is host-wide and is refused. The lists follow the
// kernel's namespaced sysctls, as runc and kubelet do.
func sysctlNamespace(key string) (NamespaceKind, bool) {
	switch {
	case strings.HasPrefix(key, "net."):
		return NamespaceNet, true
	case key == "kernel.sem", key == "kernel.shm_rmid_forced",
		strings.HasPrefix(key, "kernel.shm"), strings.HasPrefix(key, "kernel.msg"),
		strings.HasPrefix(key, "fs.mqueue."):
		return NamespaceIPC, true
	case key == "kernel.domainname":
		return NamespaceUTS, true
	}
	return "", false
}

// validateSysctls refuses host-wide sysctls and sysctls of a namespace the
// pod shares with the host.
func validateSysctls(spec *Spec) error {
	for key := range spec.Sysctls {
		ns, ok := sysctlNamespace(key)
		field := "linux.sysctls[" + key + "]"
		if !ok {
			return errdefs.InvalidField(field, "not a namespaced sysctl; host-wide sysctls cannot be set for a pod")
		}
		if ns == NamespaceNet && spec.NetworkMode == ModeNode {
			return errdefs.InvalidField(field, "pod uses the host network namespace")
		}
		if ns == NamespaceIPC && spec.IPCMode == ModeNode {
			return errdefs.InvalidField(field, "pod uses the host IPC namespace")
		}
		if strings.Contains(key, "/") || strings.Contains(key, "..") {
			return errdefs.InvalidField(field, "invalid sysctl name")
		}
	}
	return nil
}

// applySysctls writes the sysctls through /proc/sys. It must run on the
// thread that is inside the pod's new namespaces: the kernel resolves net and
// IPC sysctls against the namespaces of the task that opens the file.
func applySysctls(sysctls map[string]string) error {
	for key, value := range sysctls {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		if err := os.WriteFile(path, []byte(value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}

package oci

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// ipcSysctls are the namespaced sysctls outside net.* and fs.mqueue.*.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// sysctlNamespace names the namespace a sysctl belongs to, or "" when it is
// host-wide.
func sysctlNamespace(key string) specs.LinuxNamespaceType {
	switch {
	case ipcSysctls[key] || strings.HasPrefix(key, "fs.mqueue."):
		return specs.IPCNamespace
	case strings.HasPrefix(key, "net."):
		return specs.NetworkNamespace
	case key == "kernel.hostname" || key == "kernel.domainname":
		return specs.UTSNamespace
	}
	return ""
}

// checkSysctls refuses sysctls that would change the host: those that are
// not namespaced, and those of a namespace the container shares with it.
func checkSysctls(sysctls map[string]string, plan nsPlan) error {
	for key := range sysctls {
		field := "linux.sysctl." + key
		if strings.Contains(key, "/") || strings.Contains(key, "..") {
			return errdefs.InvalidField(field, "is not a sysctl name")
		}
		ns := sysctlNamespace(key)
		if ns == "" {
			return errdefs.InvalidField(field, "is not namespaced: it would change the host")
		}
		if !plan.has(ns) {
			return errdefs.InvalidField(field, fmt.Sprintf("needs the container's own %s namespace", ns))
		}
	}
	return nil
}

// compileSysctls writes the (checked) sysctls in the container's
// namespaces, in a stable order.
func compileSysctls(p *program, sysctls map[string]string) {
	for _, key := range slices.Sorted(maps.Keys(sysctls)) {
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		p.add(nsenter.OpWriteFile, step{what: "linux.sysctl." + key}, path, sysctls[key])
	}
}

package oci

import (
	"fmt"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// nsKind describes one namespace type.
type nsKind struct {
	flag uintptr
	env  string // variable naming a namespace to join, read by nsenter
	proc string // name under /proc/<pid>/ns
}

var nsKinds = map[specs.LinuxNamespaceType]nsKind{
	specs.PIDNamespace:     {unix.CLONE_NEWPID, "_CRISP_INIT_NS_PID", "pid"},
	specs.NetworkNamespace: {unix.CLONE_NEWNET, "_CRISP_INIT_NS_NET", "net"},
	specs.MountNamespace:   {unix.CLONE_NEWNS, "_CRISP_INIT_NS_MNT", "mnt"},
	specs.IPCNamespace:     {unix.CLONE_NEWIPC, "_CRISP_INIT_NS_IPC", "ipc"},
	specs.UTSNamespace:     {unix.CLONE_NEWUTS, "_CRISP_INIT_NS_UTS", "uts"},
	specs.UserNamespace:    {unix.CLONE_NEWUSER, "_CRISP_INIT_NS_USER", "user"},
	specs.CgroupNamespace:  {unix.CLONE_NEWCGROUP, "_CRISP_INIT_NS_CGROUP", "cgroup"},
	specs.TimeNamespace:    {unix.CLONE_NEWTIME, "_CRISP_INIT_NS_TIME", "time"},
}

// nsPlan is which namespaces a process creates and which it joins.
type nsPlan struct {
	clone uintptr
	join  map[specs.LinuxNamespaceType]string
}

func (p nsPlan) has(t specs.LinuxNamespaceType) bool {
	_, joined := p.join[t]
	return joined || p.clone&nsKinds[t].flag != 0
}

func (p nsPlan) isNew(t specs.LinuxNamespaceType) bool { return p.clone&nsKinds[t].flag != 0 }

// planNamespaces reads linux.namespaces.
func planNamespaces(nss []specs.LinuxNamespace) (nsPlan, error) {
	plan := nsPlan{join: map[specs.LinuxNamespaceType]string{}}
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range nss {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		kind, ok := nsKinds[ns.Type]
		if !ok {
			return plan, errdefs.InvalidField(field+".type", fmt.Sprintf("unknown namespace type %q", ns.Type))
		}
		if seen[ns.Type] {
			return plan, errdefs.InvalidField(field+".type", fmt.Sprintf("namespace %q listed twice", ns.Type))
		}
		seen[ns.Type] = true
		switch {
		case ns.Path == "":
			plan.clone |= kind.flag
		case !filepath.IsAbs(ns.Path):
			return plan, errdefs.InvalidField(field+".path", fmt.Sprintf("%q is not an absolute path", ns.Path))
		default:
			plan.join[ns.Type] = ns.Path
		}
	}
	return plan, nil
}

// execPlan joins every namespace a running container has of its own.
func execPlan(nss []specs.LinuxNamespace, initPid int) nsPlan {
	plan := nsPlan{join: map[specs.LinuxNamespaceType]string{}}
	for _, ns := range nss {
		plan.join[ns.Type] = "/proc/" + strconv.Itoa(initPid) + "/ns/" + nsKinds[ns.Type].proc
	}
	return plan
}

package sandbox

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// IDMapping maps Size ids from ContainerID in a pod's user namespace to
// HostID on the host, as a line of /proc/<pid>/uid_map.
type IDMapping struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

// UserNamespace is a pod's own user namespace (Kubernetes hostUsers:
// false): its uid and gid maps, as kubelet allots them.
type UserNamespace struct {
	UIDs []IDMapping `json:"uids"`
	GIDs []IDMapping `json:"gids"`
}

// HostRoot is the host id that the pod's root (container id 0) maps to.
func HostRoot(maps []IDMapping) (uint32, bool) {
	for _, m := range maps {
		if m.ContainerID == 0 {
			return m.HostID, true
		}
	}
	return 0, false
}

// maxIDMappings is the number of lines the kernel takes in an id map
// (since Linux 4.15).
const maxIDMappings = 340

// usernsField names the CRI field of a pod's user namespace.
const usernsField = "linux.security_context.namespace_options.userns_options"

// ValidateUserNamespace checks a pod's user namespace as the CRI edge
// received it: the maps must be ones the kernel takes, map the pod's root,
// and never map the host's root into the pod. A nil u is the host's user
// namespace.
func ValidateUserNamespace(spec *Spec) error {
	u := spec.UserNS
	if u == nil {
		return nil
	}
	if err := validateIDMappings(usernsField+".uids", u.UIDs); err != nil {
		return err
	}
	if err := validateIDMappings(usernsField+".gids", u.GIDs); err != nil {
		return err
	}
	// kubelet refuses these pods too: the host's namespaces are owned by
	// the host's user namespace, which the pod's root has no rights in.
	if spec.NetworkMode == ModeNode {
		return errdefs.InvalidField(usernsField, "a pod in its own user namespace cannot use the host's network namespace")
	}
	if spec.IPCMode == ModeNode {
		return errdefs.InvalidField(usernsField, "a pod in its own user namespace cannot use the host's IPC namespace")
	}
	if spec.PIDMode == ModeNode {
		return errdefs.InvalidField(usernsField, "a pod in its own user namespace cannot use the host's PID namespace")
	}
	return nil
}

// validateIDMappings checks one id map: bounded, each range inside the
// 32-bit id space, no two ranges overlapping on either side, id 0 of the
// pod mapped and id 0 of the host not.
func validateIDMappings(field string, maps []IDMapping) error {
	switch {
	case len(maps) == 0:
		return errdefs.InvalidField(field, "a user namespace needs at least one mapping")
	case len(maps) > maxIDMappings:
		return errdefs.InvalidField(field, fmt.Sprintf("%d mappings, more than the kernel's %d", len(maps), maxIDMappings))
	}
	for i, m := range maps {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case m.Size == 0:
			return errdefs.InvalidField(f+".length", "must not be zero")
		// Id 4294967295 is (uid_t)-1, which no map may contain.
		case uint64(m.ContainerID)+uint64(m.Size) > math.MaxUint32:
			return errdefs.InvalidField(f, fmt.Sprintf("container ids %d+%d overflow the 32-bit id space", m.ContainerID, m.Size))
		case uint64(m.HostID)+uint64(m.Size) > math.MaxUint32:
			return errdefs.InvalidField(f, fmt.Sprintf("host ids %d+%d overflow the 32-bit id space", m.HostID, m.Size))
		case m.HostID == 0:
			return errdefs.InvalidField(f+".host_id", "maps the host's root into the pod")
		}
		for j, prev := range maps[:i] {
			if overlaps(prev.ContainerID, prev.Size, m.ContainerID, m.Size) {
				return errdefs.InvalidField(f+".container_id", fmt.Sprintf("overlaps mapping %d", j))
			}
			if overlaps(prev.HostID, prev.Size, m.HostID, m.Size) {
				return errdefs.InvalidField(f+".host_id", fmt.Sprintf("overlaps mapping %d", j))
			}
		}
	}
	if _, ok := HostRoot(maps); !ok {
		return errdefs.InvalidField(field, "container id 0 (the pod's root) is not mapped")
	}
	return nil
}

func overlaps(a, alen, b, blen uint32) bool {
	return uint64(a) < uint64(b)+uint64(blen) && uint64(b) < uint64(a)+uint64(alen)
}

func sysProcIDMap(maps []IDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(maps))
	for _, m := range maps {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	return out
}

// createInUserNS makes a user namespace with u's maps and, owned by it,
// new namespaces of kinds; pins all of them, then runs setup inside kinds
// (see enter). step marks the step between pinning and setup. It returns the pin paths; on error nothing stays pinned.
//
// A multithreaded process cannot enter a new user namespace, so a child
// makes them: crisp's own C reaper, as PID 1 of a throwaway PID namespace,
// cloned with the new namespaces and killed once they are pinned. It dies
// with the thread that started it (PR_SET_PDEATHSIG), so a daemon killed
// meanwhile leaves no holder behind; the pins the record names are undone.
func (p pinner) createInUserNS(id string, kinds []NamespaceKind, u *UserNamespace, step func(string) error, setup func() error) (map[NamespaceKind]string, error) {
	all := append([]NamespaceKind{NamespaceUser}, kinds...)
	type result struct {
		paths map[NamespaceKind]string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		// Until the holder is killed and reaped, its parent thread lives.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		paths, err := p.holdAndPin(id, all, u)
		done <- result{paths, err}
	}()
	r := <-done
	if r.err == nil {
		r.err = step("namespace setup")
	}
	if r.err == nil && setup != nil {
		r.err = p.enter(r.paths, kinds, setup)
	}
	if r.err != nil {
		p.remove(id, all)
		return nil, r.err
	}
	return r.paths, nil
}

func (p pinner) holdAndPin(id string, kinds []NamespaceKind, u *UserNamespace) (map[NamespaceKind]string, error) {
	flags := unix.CLONE_NEWUSER | unix.CLONE_NEWPID
	for _, k := range kinds {
		flags |= cloneFlags[k]
	}
	// /proc/self/exe, not the binary's path: the child, already the
	// namespace's unprivileged root, may not traverse the directories
	// above it.
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"crisp", "pod-userns", id}
	cmd.Env = []string{nsenter.ReaperEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  uintptr(flags),
		UidMappings: sysProcIDMap(u.UIDs),
		GidMappings: sysProcIDMap(u.GIDs),
		// Containers of the pod set their supplementary groups.
		GidMappingsEnableSetgroups: true,
		Pdeathsig:                  unix.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("create the pod's user namespace: %w", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	return p.pinFrom(cmd.Process.Pid, id, kinds)
}

// pinFrom pins the namespaces of kinds that process pid is in.
func (p pinner) pinFrom(pid int, id string, kinds []NamespaceKind) (map[NamespaceKind]string, error) {
	paths := map[NamespaceKind]string{}
	for _, k := range kinds {
		path, err := p.pin(k, id, fmt.Sprintf("/proc/%d/ns/%s", pid, k))
		if err != nil {
			return nil, err
		}
		paths[k] = path
	}
	return paths, nil
}

// enter runs setup on a locked thread that joined the pinned namespaces of
// kinds (not the user namespace: the daemon's root has every right in the
// pod's). The thread returns to the daemon's namespaces afterwards or is
// retired with its goroutine.
func (p pinner) enter(paths map[NamespaceKind]string, kinds []NamespaceKind, setup func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err, restored := enterOnThread(paths, kinds, setup)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

func enterOnThread(paths map[NamespaceKind]string, kinds []NamespaceKind, setup func() error) (_ error, restored bool) {
	var entered []NamespaceKind
	orig := map[NamespaceKind]*os.File{}
	defer func() {
		for _, f := range orig {
			f.Close()
		}
	}()
	restore := func(err error) (error, bool) {
		ok := true
		for _, k := range slices.Backward(entered) {
			if rerr := unix.Setns(int(orig[k].Fd()), cloneFlags[k]); rerr != nil {
				ok = false
				err = errors.Join(err, fmt.Errorf("return to the daemon's %s namespace: %w", k, rerr))
			}
		}
		return err, ok
	}
	for _, k := range kinds {
		f, err := os.Open("/proc/thread-self/ns/" + string(k))
		if err != nil {
			return restore(fmt.Errorf("open current %s namespace: %w", k, err))
		}
		orig[k] = f
		ns, err := os.Open(paths[k])
		if err != nil {
			return restore(fmt.Errorf("open the pod's %s namespace: %w", k, err))
		}
		err = unix.Setns(int(ns.Fd()), cloneFlags[k])
		ns.Close()
		if err != nil {
			return restore(fmt.Errorf("enter the pod's %s namespace: %w", k, err))
		}
		entered = append(entered, k)
	}
	err, ok := restore(setup())
	// setup may change this thread's effective uid (writeAs); a thread
	// that did not get root back is retired.
	return err, ok && unix.Geteuid() == 0
}

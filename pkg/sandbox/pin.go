package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// NamespaceKind is a namespace type a pod can hold, named as in /proc/*/ns.
type NamespaceKind string

// Namespaces a pod sandbox creates and pins.
const (
	NamespaceNet NamespaceKind = "net"
	NamespaceIPC NamespaceKind = "ipc"
	NamespaceUTS NamespaceKind = "uts"
	NamespacePID NamespaceKind = "pid"
	// NamespaceUser is a pod's own user namespace, which owns its
	// network, IPC and UTS namespaces.
	NamespaceUser NamespaceKind = "user"
)

// allNamespaces are the kinds a pod may have pinned.
var allNamespaces = []NamespaceKind{NamespaceNet, NamespaceIPC, NamespaceUTS, NamespacePID, NamespaceUser}

var cloneFlags = map[NamespaceKind]int{
	NamespaceNet: unix.CLONE_NEWNET,
	NamespaceIPC: unix.CLONE_NEWIPC,
	NamespaceUTS: unix.CLONE_NEWUTS,
}

// pinner creates namespaces and pins them with bind mounts under dir, as
// dir/<kind>/<pod id>. A pinned namespace lives without any process in it
// until it is unpinned; containers join it by path.
type pinner struct {
	dir string
}

// pinPath is where the namespace of kind for pod id is pinned.
func (p pinner) pinPath(kind NamespaceKind, id string) string {
	return filepath.Join(p.dir, string(kind), id)
}

// prepare makes dir a shared mount point (once), so that unpinning in the
// host's mount namespace also releases copies of the pin that other mount
// namespaces made; otherwise a copied pin would keep the namespace alive.
func (p pinner) prepare() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("create namespace pin directory: %w", err)
	}
	mounted, err := mountinfo.Mounted(p.dir)
	if err != nil {
		return err
	}
	if !mounted {
		if err := unix.Mount(p.dir, p.dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s onto itself: %w", p.dir, err)
		}
	}
	if err := unix.Mount("", p.dir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", p.dir, err)
	}
	return nil
}

// create makes new namespaces of the given kinds, runs setup inside them, and
// pins each one. It returns the pin paths. On error nothing stays pinned.
//
// The work happens on a locked OS thread that unshares only itself; the
// thread returns to the daemon's namespaces afterwards, or, if that fails, is
// retired with its goroutine so no other goroutine ever runs in a pod's
// namespaces.
func (p pinner) create(id string, kinds []NamespaceKind, setup func() error) (map[NamespaceKind]string, error) {
	type result struct {
		paths map[NamespaceKind]string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		paths, err, restored := p.createOnThread(id, kinds, setup)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{paths, err}
	}()
	r := <-done
	return r.paths, r.err
}

func (p pinner) createOnThread(id string, kinds []NamespaceKind, setup func() error) (_ map[NamespaceKind]string, _ error, restored bool) {
	flags := 0
	orig := map[NamespaceKind]*os.File{}
	defer func() {
		for _, f := range orig {
			f.Close()
		}
	}()
	for _, k := range kinds {
		f, err := os.Open("/proc/thread-self/ns/" + string(k))
		if err != nil {
			return nil, fmt.Errorf("open current %s namespace: %w", k, err), true
		}
		orig[k] = f
		flags |= cloneFlags[k]
	}
	if err := unix.Unshare(flags); err != nil {
		return nil, fmt.Errorf("unshare %v: %w", kinds, err), true
	}
	paths, err := p.setupAndPin(id, kinds, setup)
	restored = true
	for k, f := range orig {
		if rerr := unix.Setns(int(f.Fd()), cloneFlags[k]); rerr != nil {
			restored = false
			err = errors.Join(err, fmt.Errorf("return to the daemon's %s namespace: %w", k, rerr))
		}
	}
	if err != nil {
		p.remove(id, kinds)
		return nil, err, restored
	}
	return paths, nil, restored
}

func (p pinner) setupAndPin(id string, kinds []NamespaceKind, setup func() error) (map[NamespaceKind]string, error) {
	if setup != nil {
		if err := setup(); err != nil {
			return nil, err
		}
	}
	paths := map[NamespaceKind]string{}
	for _, k := range kinds {
		path, err := p.pin(k, id, "/proc/thread-self/ns/"+string(k))
		if err != nil {
			return nil, err
		}
		paths[k] = path
	}
	return paths, nil
}

// pin bind-mounts the namespace file src onto the pin path for kind and id.
func (p pinner) pin(kind NamespaceKind, id, src string) (string, error) {
	path := p.pinPath(kind, id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("pin %s namespace: %w", kind, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return "", fmt.Errorf("pin %s namespace: %w", kind, err)
	}
	f.Close()
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("pin %s namespace at %s: %w", kind, path, err)
	}
	return path, nil
}

// remove unpins the namespaces of kinds for pod id. Missing pins are fine:
// removal is idempotent.
func (p pinner) remove(id string, kinds []NamespaceKind) error {
	var errs []error
	for _, k := range kinds {
		path := p.pinPath(k, id)
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("unpin %s namespace %s: %w", k, path, err))
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove pin %s: %w", path, err))
		}
	}
	return errors.Join(errs...)
}

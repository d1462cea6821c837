package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/criu"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// RestoreOptions are runc restore's choices beyond those of create.
type RestoreOptions struct {
	// ImagePath is the directory of a checkpoint's images.
	ImagePath string
	// WorkPath holds CRIU's log (restore.log); ImagePath when empty.
	WorkPath string
	// TCPEstablished, ExtUnixSk, ShellJob and FileLocks restore what the
	// checkpoint allowed with the same options.
	TCPEstablished, ExtUnixSk, ShellJob, FileLocks bool
	// LeaveStopped leaves the restored processes stopped (SIGSTOP), so
	// that none runs until the caller sends them SIGCONT: a container
	// restored at CreateContainer resumes at StartContainer.
	LeaveStopped bool
	// ManageCgroupsMode is CRIU's cgroup mode. The default, "ignore",
	// keeps the restored processes in the new container's cgroup, where
	// CRIU runs; "soft", "full" and "strict" have CRIU move them to the
	// cgroups of the checkpoint.
	ManageCgroupsMode string
}

// restoredPidFile is where the caller records the restored init's pid for
// the monitor, once CRIU answered (nsenter/monitor.c reads it).
const restoredPidFile = "restored.pid"

// Restore makes container id from the bundle, as Create does, with the
// processes of a checkpoint (opts.ImagePath) in place of a new init: the
// same state directory, cgroup, log and monitor, the bundle's root file
// system and mounts, the namespaces it joins by path. The restored
// container is running. On error nothing is left behind.
func (r *Runtime) Restore(ctx context.Context, id, bundle string, create CreateOptions, opts RestoreOptions) error {
	return r.create(ctx, id, bundle, create, &opts)
}

// criuRestore is what a restore hands CRIU beyond the spec: the image and
// work directories, the stdio the checkpoint recorded, and the namespaces
// the container joins.
type criuRestore struct {
	codec       criu.Codec
	opts        *RestoreOptions
	mode        criu.CgroupMode
	images      *os.File
	work        *os.File
	descriptors []string
	// external are the namespaces the checkpoint named external, by key,
	// opened for CRIU to inherit.
	external map[string]*os.File
	joinNS   []criu.JoinNamespace
}

// Close closes the descriptors meant for CRIU.
func (c *criuRestore) Close() {
	c.images.Close()
	if c.work != c.images {
		c.work.Close()
	}
	for _, f := range c.external {
		f.Close()
	}
}

// prepareRestore checks what a restore can do with spec and opens what
// CRIU will need.
func prepareRestore(codec criu.Codec, spec *specs.Spec, plan nsPlan, opts *RestoreOptions) (_ *criuRestore, retErr error) {
	if spec.Process.Terminal {
		return nil, errdefs.InvalidField("process.terminal", "restoring a container with a terminal is not supported")
	}
	if plan.has(specs.UserNamespace) {
		return nil, errdefs.InvalidField("linux.namespaces", "restoring a container with a user namespace is not supported")
	}
	mode := criu.CgroupIgnore
	if opts.ManageCgroupsMode != "" {
		m, ok := criuCgroupModes[opts.ManageCgroupsMode]
		if !ok {
			return nil, errdefs.InvalidField("manage-cgroups-mode", fmt.Sprintf("%q is not soft, full, strict or ignore", opts.ManageCgroupsMode))
		}
		mode = m
	}
	if opts.ImagePath == "" {
		return nil, errdefs.InvalidField("image-path", "must be set")
	}
	descriptors, err := readDescriptors(opts.ImagePath)
	if err != nil {
		return nil, err
	}
	c := &criuRestore{codec: codec, opts: opts, mode: mode, descriptors: descriptors, external: map[string]*os.File{}}
	if c.images, err = openDir("image-path", opts.ImagePath); err != nil {
		return nil, err
	}
	c.work = c.images
	defer func() {
		if retErr != nil {
			c.Close()
		}
	}()
	if opts.WorkPath != "" {
		if c.work, err = openCriuDir("work-path", opts.WorkPath); err != nil {
			return nil, err
		}
	}
	for i, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		switch ns.Type {
		case specs.NetworkNamespace, specs.PIDNamespace:
			key := criuExternalNet
			if ns.Type == specs.PIDNamespace {
				key = criuExternalPID
			}
			f, err := os.Open(ns.Path)
			if err != nil {
				return nil, fmt.Errorf("%s.path: %w", field, err)
			}
			c.external[key] = f
		case specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace:
			c.joinNS = append(c.joinNS, criu.JoinNamespace{Namespace: nsKinds[ns.Type].proc, Path: ns.Path})
		default:
			return nil, errdefs.InvalidField(field+".path", fmt.Sprintf("restoring into a %s namespace joined by path is not supported", ns.Type))
		}
	}
	return c, nil
}

// openDir opens an existing directory for CRIU (not close-on-exec).
func openDir(field, path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", field, path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// restoring is the container Restore is making.
type restoring struct {
	id, bundle, rootfs, dir, cgroupsPath string
	spec                                 *specs.Spec
	configJSON                           []byte
	cg                                   *containerCgroup
	exe                                  *sealedExe
}

// restore runs CRIU as the child of the container's monitor, in the
// container's cgroup, has it restore the checkpoint's processes as the
// monitor's children, tells the monitor the restored init and records the
// container.
func (r *Runtime) restore(ctx context.Context, c *restoring, opts CreateOptions, rst *criuRestore) error {
	conn, theirs, err := criuSocketPair(rst.codec)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer theirs.Close()
	path, err := r.criuPath()
	if err != nil {
		return err
	}
	stateDir, err := os.Open(c.dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.dir, err)
	}
	defer stateDir.Close()

	// The namespaces CRIU inherits, in the order of their numbers in
	// criu. (Its image and work directories are named by their numbers
	// in this process, its client, which CRIU opens through /proc.)
	var extra []*os.File
	keys := make([]string, 0, len(rst.external))
	for key, f := range rst.external {
		keys = append(keys, key)
		extra = append(extra, f)
	}
	l := &launch{
		exe: c.exe, cgroup: c.cg, stateDir: stateDir, detach: true, extra: extra,
		stdio: [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr}, criu: theirs, criuPath: path,
		slack: r.childSlack,
	}
	if err := l.setLog(opts); err != nil {
		return err
	}
	if l.logDir != nil {
		defer l.logDir.Close()
	}
	p, err := l.start(ctx)
	if err != nil {
		return fmt.Errorf("restore container %s: %w", c.id, err)
	}
	theirs.Close()
	restored := false
	defer func() {
		if !restored {
			// criu exits once its socket ends; the monitor waits for it.
			conn.Close()
			p.abort()
		} else {
			p.conn.file.Close()
		}
	}()

	copts := &criu.Options{
		ImagesDirFd:     int32(rst.images.Fd()),
		WorkDirFd:       int32(rst.work.Fd()),
		LogLevel:        4,
		LogFile:         "restore.log",
		Root:            c.rootfs,
		RstSibling:      true,
		ManageCgroups:   true,
		CgroupMode:      rst.mode,
		TCPEstablished:  rst.opts.TCPEstablished,
		ExtUnixSk:       rst.opts.ExtUnixSk,
		ShellJob:        rst.opts.ShellJob,
		FileLocks:       rst.opts.FileLocks,
		LeaveStopped:    rst.opts.LeaveStopped,
		OrphanPtsMaster: true,
		JoinNamespaces:  rst.joinNS,
	}
	if rst.opts.LeaveStopped {
		// CRIU before 3.19 has no leave_stopped in its RPC: its
		// configuration file says it to every version.
		if copts.ConfigFile, err = writeCriuConfig(rst.work.Name(), "leave-stopped"); err != nil {
			return fmt.Errorf("restore container %s: %w", c.id, err)
		}
	}
	if copts.ExtMounts, err = criuExternalMounts(c.spec, 0, c.cg.Path()); err != nil {
		return err
	}
	for i, key := range keys {
		copts.InheritFds = append(copts.InheritFds, criu.InheritFd{Key: key, Fd: int32(p.extraFD + i)})
	}
	// The checkpoint's stdio pipes become the new container's: criu runs
	// with them as its own 0, 1 and 2.
	for fd, target := range rst.descriptors {
		if isPipe(target) {
			copts.InheritFds = append(copts.InheritFds, criu.InheritFd{Key: target, Fd: int32(fd)})
		}
	}
	// The monitor learns the restored init from restored.pid, written
	// while CRIU waits on its post-restore notification: CRIU exits right
	// after it answers, and the monitor reads the file once it has.
	pid := 0
	notify := func(script string, notified int32) error {
		if script != "post-restore" {
			return nil
		}
		pid = int(notified)
		var err error
		if p.init, err = proc.NewRef(pid); err != nil {
			return fmt.Errorf("restored init %d: %w", pid, err)
		}
		return writeRestoredPid(c.dir, pid)
	}
	if _, err := conn.do(ctx, criu.Restore, copts, notify); err != nil {
		return fmt.Errorf("restore container %s: %w", c.id, criuFailed(err, rst.work.Name(), "restore.log"))
	}
	if pid <= 0 {
		return fmt.Errorf("restore container %s: criu named no restored init", c.id)
	}
	conn.Close()
	// The systemd driver starts the container's scope around the
	// restored init (a no-op write for cgroupfs).
	if err := c.cg.AddProcess(pid); err != nil {
		return fmt.Errorf("restore container %s: register init in cgroup: %w", c.id, err)
	}
	rec := &record{
		ID: c.id, Bundle: c.bundle, Rootfs: c.rootfs, Created: time.Now().UTC(), Init: p.init, Monitor: p.monitor,
		CgroupMount: r.cgroupMount, CgroupsPath: c.cgroupsPath, LogPath: opts.LogPath, Config: c.spec, configJSON: c.configJSON,
	}
	if err := rec.save(c.dir); err != nil {
		return err
	}
	restored = true
	klog.V(2).InfoS("Restored container", "id", c.id, "pid", pid, "images", rst.opts.ImagePath)
	return nil
}

// writeRestoredPid records pid in the state directory, atomically.
func writeRestoredPid(dir string, pid int) error {
	tmp := filepath.Join(dir, restoredPidFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, restoredPidFile)); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}

// criuConfigFile is the CRIU configuration a restore writes to its work
// directory, for options CRIU's RPC lacks.
const criuConfigFile = "crisp-restore.conf"

// writeCriuConfig writes a CRIU configuration file of options, one per
// line, in dir and returns its path for CriuOpts.ConfigFile.
func writeCriuConfig(dir string, options ...string) (string, error) {
	path := filepath.Join(dir, criuConfigFile)
	if err := os.WriteFile(path, []byte(strings.Join(options, "\n")+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write CRIU configuration: %w", err)
	}
	return path, nil
}

package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/criu"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// CheckpointOptions are runc checkpoint's choices.
type CheckpointOptions struct {
	// ImagePath is the directory CRIU writes the images to; it is made
	// (0700) if missing.
	ImagePath string
	// WorkPath holds CRIU's log (dump.log) and work files; ImagePath when
	// empty.
	WorkPath string
	// ParentPath is the images of an earlier pre-dump, absolute or
	// relative to ImagePath: only memory changed since is written.
	ParentPath string
	// LeaveRunning keeps the container running after the dump; otherwise
	// CRIU kills it once the images are written and the container stops.
	LeaveRunning bool
	// PreDump writes only the memory, with the container left running,
	// as the first of a series of incremental snapshots.
	PreDump bool
	// TCPEstablished, ExtUnixSk, ShellJob and FileLocks allow established
	// TCP connections, unix sockets to peers outside the container, a
	// process attached to a terminal and held file locks.
	TCPEstablished, ExtUnixSk, ShellJob, FileLocks bool
	// ManageCgroupsMode is CRIU's cgroup mode: "soft" (the default),
	// "full", "strict" or "ignore".
	ManageCgroupsMode string
}

// Files a checkpoint adds to CRIU's images.
const (
	// descriptorsFile lists what the init's descriptors 0, 1 and 2 were
	// ("pipe:[1234]", "/dev/null"): a restore gives the pipes among them
	// the restored container's new stdio.
	descriptorsFile = "descriptors.json"
)

// Keys of the namespaces a checkpoint treats as external: joined by path,
// they belong to something else (the pod) and a restore joins the new
// container's instead of making copies.
const (
	criuExternalNet = "crisp-external-net"
	criuExternalPID = "crisp-external-pid"
)

// criuCgroupModes are ManageCgroupsMode's values.
var criuCgroupModes = map[string]criu.CgroupMode{
	"": criu.CgroupSoft, "soft": criu.CgroupSoft, "full": criu.CgroupFull,
	"strict": criu.CgroupStrict, "ignore": criu.CgroupIgnore,
}

// Checkpoint writes the images of running or paused container id with CRIU: its
// processes, memory, open files, mounts and namespaces. With
// opts.LeaveRunning or opts.PreDump the container goes on; otherwise CRIU
// kills it after the dump and the monitor records its end. A failed
// checkpoint leaves the container as it was.
func (r *Runtime) Checkpoint(ctx context.Context, id string, opts CheckpointOptions) error {
	codec, err := r.criuCodecOrRefuse("checkpoint")
	if err != nil {
		return err
	}
	rec, cg, err := r.runningCgroup(id, StatusRunning, StatusPaused)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	mode, ok := criuCgroupModes[opts.ManageCgroupsMode]
	if !ok {
		return errdefs.InvalidField("manage-cgroups-mode", fmt.Sprintf("%q is not soft, full, strict or ignore", opts.ManageCgroupsMode))
	}
	if opts.ImagePath == "" {
		return errdefs.InvalidField("image-path", "must be set")
	}
	images, err := openCriuDir("image-path", opts.ImagePath)
	if err != nil {
		return err
	}
	defer images.Close()
	work := images
	if opts.WorkPath != "" {
		if work, err = openCriuDir("work-path", opts.WorkPath); err != nil {
			return err
		}
		defer work.Close()
	}
	reqType, logName := criu.Dump, "dump.log"
	if opts.PreDump {
		reqType, logName = criu.PreDump, "pre-dump.log"
	}
	pid := rec.Init.Pid
	if err := writeDescriptors(images, pid); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", id, err)
	}
	copts := &criu.Options{
		ImagesDirFd:     int32(images.Fd()),
		WorkDirFd:       int32(work.Fd()),
		LogLevel:        4,
		LogFile:         logName,
		Pid:             int32(pid),
		Root:            rec.Rootfs,
		ManageCgroups:   true,
		CgroupMode:      mode,
		LeaveRunning:    opts.LeaveRunning || opts.PreDump,
		TCPEstablished:  opts.TCPEstablished,
		ExtUnixSk:       opts.ExtUnixSk,
		ShellJob:        opts.ShellJob,
		FileLocks:       opts.FileLocks,
		OrphanPtsMaster: true,
		// CRIU freezes the cgroup to seize the processes, and leaves a
		// paused container paused: the caller can keep the container
		// still after the dump, while it copies the root file system.
		FreezeCgroup: cg.Path(),
	}
	if opts.ParentPath != "" {
		copts.ParentImg = opts.ParentPath
		copts.TrackMem = true
	}
	if opts.PreDump {
		copts.TrackMem = true
	}
	if copts.ExtMounts, err = criuExternalMounts(rec.Config, pid, ""); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", id, err)
	}
	if copts.External, err = criuExternalNamespaces(rec.Config); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", id, err)
	}

	conn, wait, err := r.runCriu(ctx, codec)
	if err != nil {
		return err
	}
	_, err = conn.do(ctx, reqType, copts, nil)
	// After a pre-dump criu swrk waits for the next one, or the dump,
	// and fails when the socket ends instead: its answer is what counts.
	if werr := wait(); err == nil && werr != nil && !opts.PreDump {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", id, criuFailed(err, work.Name(), logName))
	}
	klog.V(2).InfoS("Checkpointed container", "id", id, "images", opts.ImagePath, "preDump", opts.PreDump, "leaveRunning", opts.LeaveRunning)
	return nil
}

// openCriuDir makes (0700) and opens a directory for CRIU's images or work
// files. The descriptor is passed to criu, so it must not be close-on-exec.
func openCriuDir(field, path string) (*os.File, error) {
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, errdefs.InvalidField(field, err.Error())
		}
		path = abs
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", field, path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// writeDescriptors records what the init's stdio are, for a restore.
func writeDescriptors(images *os.File, pid int) error {
	var fds []string
	for fd := range 3 {
		target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd))
		if errors.Is(err, fs.ErrNotExist) {
			target = "/dev/null"
		} else if err != nil {
			return fmt.Errorf("descriptor %d of the init: %w", fd, err)
		}
		fds = append(fds, target)
	}
	data, err := json.Marshal(fds)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(images.Name(), descriptorsFile), data, 0o600)
}

// readDescriptors reads what writeDescriptors recorded.
func readDescriptors(images string) ([]string, error) {
	data, err := readBounded(filepath.Join(images, descriptorsFile), 64<<10)
	if err != nil {
		return nil, fmt.Errorf("image-path: %w", err)
	}
	var fds []string
	if err := json.Unmarshal(data, &fds); err != nil || len(fds) != 3 {
		return nil, fmt.Errorf("image-path: %s is not three descriptors", descriptorsFile)
	}
	return fds, nil
}

// readBounded reads at most limit bytes of a regular file.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, fmt.Errorf("%s is not a regular file of at most %d bytes", path, limit)
	}
	buf := make([]byte, fi.Size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && n != len(buf) {
		return nil, err
	}
	return buf, nil
}

// criuExternalMounts lists the mounts of the container whose sources are
// outside it, which CRIU neither dumps nor can make: the spec's bind
// mounts, the files masked with /dev/null and the cgroup directory bound
// at /sys/fs/cgroup without a cgroup namespace. Each is keyed by its
// destination, and mapped to the host path a restore binds: the spec's
// source, /dev/null, or cgroupDir (the container's cgroup directory).
// Dumping, pid is the init, in whose root the masked paths that are files
// are found; restoring (pid 0), every masked path is listed, for CRIU
// asks only for the keys its images name.
func criuExternalMounts(spec *specs.Spec, pid int, cgroupDir string) ([]criu.KeyValue, error) {
	var out []criu.KeyValue
	add := func(key, val string) {
		if pid > 0 {
			// A dump records the mount under the name val: its key.
			val = key
		}
		out = append(out, criu.KeyValue{Key: key, Value: val})
	}
	plan, err := planNamespaces(spec.Linux.Namespaces)
	if err != nil {
		return nil, err
	}
	for _, m := range spec.Mounts {
		switch {
		case isBind(m):
			add(m.Destination, m.Source)
		case (m.Type == "cgroup" || m.Type == "cgroup2") && !plan.has(specs.CgroupNamespace):
			add(m.Destination, cgroupDir)
		}
	}
	for _, path := range spec.Linux.MaskedPaths {
		// A masked directory is an empty tmpfs, which CRIU dumps; a
		// file is the container's /dev/null bound over it.
		if pid > 0 {
			fi, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "root", path))
			if err != nil || fi.IsDir() {
				continue
			}
		}
		add(path, "/dev/null")
	}
	return out, nil
}

// isBind reports whether an OCI mount is a bind mount.
func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// criuExternalNamespaces names the network and PID namespaces the
// container joined by path as external to the dump (CRIU's
// "net[<inode>]:<key>"): a restore joins the new container's.
func criuExternalNamespaces(spec *specs.Spec) ([]string, error) {
	var out []string
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		var kind, key string
		switch ns.Type {
		case specs.NetworkNamespace:
			kind, key = "net", criuExternalNet
		case specs.PIDNamespace:
			kind, key = "pid", criuExternalPID
		default:
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(ns.Path, &st); err != nil {
			return nil, fmt.Errorf("linux.namespaces %s %s: %w", ns.Type, ns.Path, err)
		}
		out = append(out, kind+"["+strconv.FormatUint(st.Ino, 10)+"]:"+key)
	}
	return out, nil
}

// isPipe reports whether a descriptor's link target is a pipe.
func isPipe(target string) bool { return strings.HasPrefix(target, "pipe:[") }

package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// Checkpoint writes a checkpoint archive of running container id at
// location (CRI CheckpointContainer), in the layout CRI-O writes and
// checkpointctl reads: config.dump, spec.dump, CRIU's images under
// checkpoint/ with dump.log, rootfs-diff.tar and deleted.files (what the
// container changed in its root file system). The container is frozen
// while its processes and root file system are copied, and then keeps
// running.
// The archive, readable by root only, appears at location whole or not at
// all (a crash leaves nothing there), and never replaces a file. ctx bounds the whole checkpoint; a
// failed one leaves the container running and nothing at location.
func (m *Manager) Checkpoint(ctx context.Context, id, location string) error {
	c, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	dir, name, err := openArchiveDir(location)
	if err != nil {
		return err
	}
	defer dir.Close()
	if c.State != StateRunning {
		return fmt.Errorf("checkpoint container %s: it is %s, not running: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	work, err := m.workDir(c.ID + "-")
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	defer os.RemoveAll(work)

	started := time.Now()
	// Frozen from before the dump until its root file system is copied,
	// the container changes nothing in between: a file it writes has the
	// size CRIU recorded, which a restore checks.
	thaw, err := m.freeze(ctx, []*Container{c})
	if err != nil {
		return err
	}
	defer thaw()
	if err := m.dump(ctx, c, work, started); err != nil {
		return err
	}
	if err := thaw(); err != nil {
		return err
	}
	if err := writeArchive(ctx, dir, name, work); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	klog.InfoS("Checkpointed container", "container", c.ID, "location", location, "duration", time.Since(started))
	return nil
}

// workDir makes a new directory, named prefix and a random suffix, in the
// checkpoint directory, where checkpoints are assembled and restores keep
// their work files; what a crash leaves there is removed at start.
func (m *Manager) workDir(prefix string) (string, error) {
	if m.opts.CheckpointDir == "" {
		return "", fmt.Errorf("no checkpoint directory configured: %w", errdefs.ErrUnavailable)
	}
	if err := os.MkdirAll(m.opts.CheckpointDir, 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(m.opts.CheckpointDir, prefix)
}

// freeze freezes the processes of containers cs, and returns what thaws
// them all again: called once or more, it thaws once, and reports the
// first failure. On error none is left frozen.
func (m *Manager) freeze(ctx context.Context, cs []*Container) (thaw func() error, err error) {
	var frozen []string
	done := false
	thaw = func() error {
		if done {
			return nil
		}
		done = true
		var errs []error
		for _, id := range frozen {
			// Thawed however the checkpoint ended, even past its
			// deadline: a frozen container is a stuck one.
			err := m.opts.Runtime.Resume(context.WithoutCancel(ctx), id)
			if errors.Is(err, errdefs.ErrFailedPrecondition) {
				continue // not frozen: its freeze failed before it began
			}
			if err != nil {
				klog.ErrorS(err, "Thawing container after a checkpoint", "container", id)
				errs = append(errs, fmt.Errorf("thaw container %s: %w", id, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, c := range cs {
		// Listed first: a freeze that fails waiting (its deadline) may
		// have frozen the cgroup all the same.
		frozen = append(frozen, c.ID)
		if err := m.opts.Runtime.Pause(ctx, c.ID); err != nil {
			return nil, errors.Join(fmt.Errorf("checkpoint container %s: freeze: %w", c.ID, err), thaw())
		}
	}
	return thaw, nil
}

// dump writes the checkpoint of frozen container c into the empty
// directory work, in CRI-O's layout: CRIU's images under checkpoint/ with
// dump.log, spec.dump, config.dump, rootfs-diff.tar and deleted.files.
func (m *Manager) dump(ctx context.Context, c *Container, work string, at time.Time) error {
	st, err := m.opts.Runtime.State(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	spec, err := m.opts.Runtime.Spec(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	err = m.opts.Runtime.Checkpoint(ctx, c.ID, oci.CheckpointOptions{
		ImagePath: filepath.Join(work, metadata.CheckpointDirectory), WorkPath: work, LeaveRunning: true,
	})
	if err != nil {
		return err
	}
	// What a restore checks against the node it runs on.
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	spec.Annotations[metadata.CheckpointAnnotationEngine] = "crisp"
	spec.Annotations[metadata.CheckpointAnnotationHostArch] = runtime.GOARCH
	if err := writeJSON(filepath.Join(work, metadata.SpecDumpFile), spec); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	cfg := &metadata.ContainerConfig{
		ID: c.ID, Name: c.Metadata.Name, RootfsImage: c.Image, RootfsImageRef: c.ImageID, RootfsImageName: c.Image,
		OCIRuntime: "crisp", CreatedTime: c.CreatedAt, CheckpointedAt: at,
	}
	if err := writeJSON(filepath.Join(work, metadata.ConfigDumpFile), cfg); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	if err := m.writeRootfsChanges(ctx, c.ID, st.Rootfs, work); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	return nil
}

// writeRootfsChanges writes rootfs-diff.tar and, when the container
// deleted files of its image, deleted.files.
func (m *Manager) writeRootfsChanges(ctx context.Context, id, rootfs, work string) error {
	f, err := os.OpenFile(filepath.Join(work, metadata.RootFsDiffTar), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	deleted, err := m.opts.Images.WriteContainerChanges(ctx, id, rootfs, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || len(deleted) == 0 {
		return err
	}
	return writeJSON(filepath.Join(work, metadata.DeletedFilesFile), deleted)
}

// writeJSON writes v to path (0600).
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// openArchiveDir opens the directory a checkpoint archive goes to and
// returns it with the archive's file name. location must be an absolute,
// clean path of a new file in an existing directory; the directory is
// opened without following magic links (/proc/<pid>/root and the like).
func openArchiveDir(location string) (*os.File, string, error) {
	const field = "location"
	if !filepath.IsAbs(location) || filepath.Clean(location) != location {
		return nil, "", errdefs.InvalidField(field, fmt.Sprintf("%q is not a clean absolute path", location))
	}
	name := filepath.Base(location)
	if name == "/" || name == "." || name == ".." {
		return nil, "", errdefs.InvalidField(field, fmt.Sprintf("%q names no file", location))
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, filepath.Dir(location), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, "", errdefs.InvalidField(field, fmt.Sprintf("directory %s: %v", filepath.Dir(location), err))
	}
	dir := os.NewFile(uintptr(fd), filepath.Dir(location))
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		dir.Close()
		return nil, "", errdefs.InvalidField(field, fmt.Sprintf("%s exists; a checkpoint never replaces a file", location))
	}
	return dir, name, nil
}

// writeArchive writes an uncompressed tar of work to name in dir, whole or
// not at all: into an unnamed file in dir (O_TMPFILE), which a crash
// leaves nowhere, then linked under name, which never replaces a file.
func writeArchive(ctx context.Context, dir *os.File, name, work string) error {
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("location: the file system of %s has no unnamed files (O_TMPFILE): %w", dir.Name(), err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	r, err := archive.TarWithOptions(work, &archive.TarOptions{Compression: archive.Uncompressed})
	if err != nil {
		return fmt.Errorf("archive checkpoint: %w", err)
	}
	defer r.Close()
	if _, err := io.Copy(f, contextReader{ctx, r}); err != nil {
		return fmt.Errorf("write checkpoint archive: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write checkpoint archive: %w", err)
	}
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), int(dir.Fd()), name, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.EEXIST) {
		return errdefs.InvalidField("location", fmt.Sprintf("%s exists; a checkpoint never replaces a file", filepath.Join(dir.Name(), name)))
	}
	if err != nil {
		return fmt.Errorf("location: %w", err)
	}
	return nil
}

// contextReader stops a copy once its context ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

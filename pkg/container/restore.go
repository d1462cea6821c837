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
	"slices"
	"strings"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/ids"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// Restored says that a container was made from a checkpoint and what of it
// ContainerStatus tells.
type Restored struct {
	// From is the checkpoint: the archive CreateContainer named.
	From string `json:"from"`
	// CheckpointedAt is when the checkpoint was taken.
	CheckpointedAt time.Time `json:"checkpointedAt,omitzero"`
	// OriginalID is the container the checkpoint was taken of.
	OriginalID string `json:"originalID,omitempty"`
	// Stopped: the restored processes wait, stopped, for Start to send
	// them SIGCONT. A restored container never runs before it is started.
	Stopped bool `json:"stopped,omitempty"`
}

// Bounds on what a checkpoint's metadata files may hold.
const (
	maxConfigDump   = 1 << 20
	maxSpecDump     = 8 << 20
	maxDeletedFiles = 16 << 20
)

// checkpointSource is a container checkpoint being restored, in the layout
// CheckpointContainer writes (CRI-O's): config.dump, spec.dump, CRIU's
// images under checkpoint/, rootfs-diff.tar and deleted.files.
type checkpointSource struct {
	// from is what the request named.
	from string
	// dir holds the layout.
	dir string
	// config and spec are config.dump and spec.dump.
	config *metadata.ContainerConfig
	spec   *specs.Spec
	// deleted are the paths of the image the container had deleted.
	deleted []string
	// remove, when set, removes dir (an archive's unpacked copy).
	remove func()
	// strict: the request describes the checkpointed container (a pod
	// restore), and what differs fails the restore; otherwise the
	// checkpoint's image and process replace the request's.
	strict bool
}

// Close removes what opening the source made.
func (s *checkpointSource) Close() {
	if s.remove != nil {
		s.remove()
	}
}

// imagesDir is the directory of CRIU's images.
func (s *checkpointSource) imagesDir() string {
	return filepath.Join(s.dir, metadata.CheckpointDirectory)
}

// isCheckpointArchive reports whether config.image.image names a
// checkpoint archive rather than an image: image references never start
// with a slash.
func isCheckpointArchive(image string) bool { return strings.HasPrefix(image, "/") }

// openCheckpointArchive unpacks the checkpoint archive at path (field
// names it in errors) into a new work directory and reads it.
func (m *Manager) openCheckpointArchive(ctx context.Context, field, path string) (_ *checkpointSource, retErr error) {
	if filepath.Clean(path) != path || strings.ContainsRune(path, 0) {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("%q is not a clean absolute path", path))
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags: unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("checkpoint archive %s: %v", path, err))
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("checkpoint archive %s is not a regular file", path))
	}
	dir, err := m.workDir("restore-")
	if err != nil {
		return nil, fmt.Errorf("restore from %s: %w", path, err)
	}
	remove := func() { os.RemoveAll(dir) }
	defer func() {
		if retErr != nil {
			remove()
		}
	}()
	if err := extractCheckpoint(ctx, f, fi.Size(), dir); err != nil {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("checkpoint archive %s: %v", path, err))
	}
	src, err := readCheckpoint(field, dir)
	if err != nil {
		return nil, err
	}
	src.from, src.remove = path, remove
	return src, nil
}

// checkpointImageAnnotations mark an OCI image built from a checkpoint
// archive: checkpointctl's, and the one CRI-O's documentation has buildah
// set. Either names the checkpointed container.
var checkpointImageAnnotations = []string{metadata.CheckpointAnnotationName, "io.kubernetes.cri-o.annotations.checkpoint.name"}

// isCheckpointImage reports whether img was built from a checkpoint
// archive.
func isCheckpointImage(img *image.Image) bool {
	for _, a := range checkpointImageAnnotations {
		if img.Annotations[a] != "" {
			return true
		}
	}
	return false
}

// openCheckpointImage mounts img, an image built from a checkpoint archive
// (the archive's files at its root), read-only and reads the checkpoint in
// it; ref is how the request named it. The mount is an image volume of an
// owner no container has: Close removes it, and after a crash the next
// start reclaims it.
func (m *Manager) openCheckpointImage(ctx context.Context, ref string, img *image.Image) (*checkpointSource, error) {
	owner, err := ids.New()
	if err != nil {
		return nil, err
	}
	owner = "checkpoint-" + owner
	v, err := m.opts.Images.CreateImageVolume(ctx, owner, 0, img.ID, "")
	if err != nil {
		return nil, fmt.Errorf("image.image %q: mount the checkpoint image: %w", ref, err)
	}
	remove := func() {
		if err := m.opts.Images.RemoveImageVolume(context.WithoutCancel(ctx), owner, 0); err != nil {
			klog.ErrorS(err, "Removing the mount of a checkpoint image; the next start reclaims it", "image", img.ID)
		}
	}
	src, err := readCheckpoint("image.image", v.Source)
	if err != nil {
		remove()
		return nil, err
	}
	src.from, src.remove = ref, remove
	return src, nil
}

// readCheckpoint reads and checks the metadata of the checkpoint layout in
// dir. Nothing of it is followed outside dir.
func readCheckpoint(field, dir string) (*checkpointSource, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("checkpoint %s: %v", dir, err))
	}
	defer root.Close()
	src := &checkpointSource{dir: dir, config: &metadata.ContainerConfig{}, spec: &specs.Spec{}}
	if err := readCheckpointJSON(root, metadata.ConfigDumpFile, maxConfigDump, src.config); err != nil {
		return nil, errdefs.InvalidField(field, err.Error())
	}
	if err := readCheckpointJSON(root, metadata.SpecDumpFile, maxSpecDump, src.spec); err != nil {
		return nil, errdefs.InvalidField(field, err.Error())
	}
	err = readCheckpointJSON(root, metadata.DeletedFilesFile, maxDeletedFiles, &src.deleted)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.InvalidField(field, err.Error())
	}
	// Lstat: CRIU reads the images by path, which must not leave dir.
	if fi, err := root.Lstat(metadata.CheckpointDirectory); err != nil || !fi.IsDir() {
		return nil, errdefs.InvalidField(field, "the checkpoint has no CRIU images (checkpoint/)")
	}
	switch {
	case src.config.RootfsImageRef == "" && src.config.RootfsImageName == "":
		return nil, errdefs.InvalidField(field, "config.dump names no root file system image")
	case src.spec.Process == nil || src.spec.Root == nil || src.spec.Linux == nil:
		return nil, errdefs.InvalidField(field, "spec.dump is not a container's spec")
	}
	if arch := src.spec.Annotations[metadata.CheckpointAnnotationHostArch]; arch != "" && arch != runtime.GOARCH {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("the checkpoint was taken on %s; this node is %s", arch, runtime.GOARCH))
	}
	return src, nil
}

// readCheckpointJSON decodes file name of root, a regular file of at most
// limit bytes, into v.
func readCheckpointJSON(root *os.Root, name string, limit int64, v any) error {
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return fmt.Errorf("%s is not a regular file of at most %d bytes", name, limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// image is the reference of the image the checkpointed container ran on:
// its ID when the checkpoint recorded one.
func (s *checkpointSource) image() string {
	if s.config.RootfsImageRef != "" {
		return s.config.RootfsImageRef
	}
	return s.config.RootfsImageName
}

// imageName is the image's name, as the checkpointed container was asked
// to run it.
func (s *checkpointSource) imageName() string {
	if s.config.RootfsImageName != "" {
		return s.config.RootfsImageName
	}
	return s.config.RootfsImageRef
}

// adopt gives the restored container's spec built the checkpointed
// process, for what CRIU brings back runs it: strict, the request's must
// be the same; otherwise it replaces the request's. It checks that the new
// container can hold what the checkpoint had: the same bind mount
// destinations, for CRIU binds each of them again from the new sources;
// and no terminal, which a restore cannot give back.
func (s *checkpointSource) adopt(built *specs.Spec) error {
	old := s.spec.Process
	if old.Terminal || built.Process.Terminal {
		return errdefs.InvalidField("tty", "a container with a terminal cannot be restored")
	}
	if s.strict {
		if err := sameProcess(old, built.Process); err != nil {
			return err
		}
	}
	built.Process.Args = slices.Clone(old.Args)
	built.Process.Env = slices.Clone(old.Env)
	built.Process.Cwd = old.Cwd
	built.Process.User = old.User
	// What was masked stays masked: CRIU binds /dev/null again over each
	// masked file of the checkpoint (kubelet's list may be longer than
	// the request's), and the restored processes must not see more.
	for _, p := range s.spec.Linux.MaskedPaths {
		if !slices.Contains(built.Linux.MaskedPaths, p) {
			built.Linux.MaskedPaths = append(built.Linux.MaskedPaths, p)
		}
	}
	had, has := bindDestinations(s.spec), bindDestinations(built)
	for _, d := range had {
		if !slices.Contains(has, d) {
			return errdefs.InvalidField("mounts", fmt.Sprintf("the checkpoint has a bind mount at %s, which the request lacks", d))
		}
	}
	for _, d := range has {
		if !slices.Contains(had, d) {
			return errdefs.InvalidField("mounts", fmt.Sprintf("the request mounts %s, which the checkpoint had no mount at", d))
		}
	}
	return nil
}

// sameProcess checks that the process a request describes is the
// checkpointed one: its command and arguments, working directory,
// environment and credentials.
func sameProcess(old, req *specs.Process) error {
	switch {
	case !slices.Equal(old.Args, req.Args):
		return errdefs.InvalidField("command", fmt.Sprintf("the request runs %q; the checkpointed container ran %q", req.Args, old.Args))
	case old.Cwd != req.Cwd:
		return errdefs.InvalidField("working_dir", fmt.Sprintf("the request's is %q; the checkpointed container's was %q", req.Cwd, old.Cwd))
	case old.User.UID != req.User.UID || old.User.GID != req.User.GID || !slices.Equal(old.User.AdditionalGids, req.User.AdditionalGids):
		return errdefs.InvalidField("linux.security_context.run_as_user", fmt.Sprintf("the request runs as %d:%d %v; the checkpointed container ran as %d:%d %v",
			req.User.UID, req.User.GID, req.User.AdditionalGids, old.User.UID, old.User.GID, old.User.AdditionalGids))
	}
	a, b := slices.Sorted(slices.Values(old.Env)), slices.Sorted(slices.Values(req.Env))
	if !slices.Equal(a, b) {
		for _, e := range b {
			if !slices.Contains(a, e) {
				return errdefs.InvalidField("envs", fmt.Sprintf("the request sets %q, which the checkpointed container did not have", strings.SplitN(e, "=", 2)[0]))
			}
		}
		return errdefs.InvalidField("envs", "the request lacks variables the checkpointed container had")
	}
	return nil
}

// bindDestinations lists the destinations of s's bind mounts.
func bindDestinations(s *specs.Spec) []string {
	var out []string
	for _, m := range s.Mounts {
		if m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			out = append(out, filepath.Clean(m.Destination))
		}
	}
	return out
}

// applyRootfsChanges brings the checkpoint's root file system changes into
// the new container's root file system.
func (m *Manager) applyRootfsChanges(ctx context.Context, src *checkpointSource, rootfs string) error {
	root, err := os.OpenRoot(src.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var diff io.Reader
	f, err := root.OpenFile(metadata.RootFsDiffTar, os.O_RDONLY|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%s: %w", metadata.RootFsDiffTar, err)
	default:
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return errdefs.InvalidField("image.image", metadata.RootFsDiffTar+" is not a regular file")
		}
		diff = f
	}
	return m.opts.Images.ApplyContainerChanges(ctx, rootfs, diff, src.deleted)
}

// restore makes c's OCI container from src's processes, left stopped, in
// place of a new init.
func (m *Manager) restore(ctx context.Context, c *Container, src *checkpointSource, opts oci.CreateOptions) error {
	// CRIU's log goes here, never into the checkpoint, which a restore
	// must not change.
	work, err := m.workDir(c.ID + "-restore-")
	if err != nil {
		return fmt.Errorf("container %s: restore: %w", c.ID, err)
	}
	defer os.RemoveAll(work)
	err = m.opts.Runtime.Restore(ctx, c.ID, c.Bundle, opts, oci.RestoreOptions{
		ImagePath: src.imagesDir(), WorkPath: work, LeaveStopped: true,
	})
	if err != nil {
		return fmt.Errorf("container %s: restore: %w", c.ID, err)
	}
	c.Restored = &Restored{From: src.from, CheckpointedAt: src.config.CheckpointedAt, OriginalID: src.config.ID, Stopped: true}
	return nil
}

// resumeRestored lets the stopped processes of restored container c run:
// SIGCONT to each.
func (m *Manager) resumeRestored(ctx context.Context, c *Container) error {
	if err := m.opts.Runtime.Kill(ctx, c.ID, unix.SIGCONT, true); err != nil {
		return err
	}
	c.Restored.Stopped = false
	return nil
}

package container

import (
	"context"
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
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// podCheckpointVersion is the version of the pod checkpoint layout
// CheckpointPod writes (docs/checkpoint.md): pod.options, checkpointctl's
// CheckpointedPodOptions naming each container's directory by the
// container's name, and one directory per container in the layout of a
// container checkpoint archive, unpacked.
const podCheckpointVersion = 1

// CheckpointPod writes one consistent checkpoint of containers ids, all
// running in pod podID, into dir, an existing empty directory: every
// container is frozen before the first is captured and stays frozen until
// the last is, and all are thawed before it returns, on success, error or
// deadline. Nothing is written outside dir; on error nothing is left in
// it.
func (m *Manager) CheckpointPod(ctx context.Context, podID string, ids []string, dir string) (retErr error) {
	root, err := openPodCheckpointDir(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if len(ids) == 0 {
		return errdefs.InvalidField("container_ids", "must not be empty")
	}
	// Locked in one order, so that two pod checkpoints cannot deadlock.
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	cs := make([]*Container, 0, len(sorted))
	for i, id := range sorted {
		if i > 0 && sorted[i-1] == id {
			return errdefs.InvalidField("container_ids", fmt.Sprintf("%s is listed twice", id))
		}
		c, unlock, err := m.index.Acquire(id)
		if err != nil {
			return fmt.Errorf("container_ids: %w", err)
		}
		defer unlock()
		switch {
		case c.PodID != podID:
			return errdefs.InvalidField("container_ids", fmt.Sprintf("container %s is not in pod %s", id, podID))
		case c.State != StateRunning:
			return fmt.Errorf("container_ids: container %s is %s, not running: %w", id, c.State, errdefs.ErrFailedPrecondition)
		case filepath.Base(c.Metadata.Name) != c.Metadata.Name || !filepath.IsLocal(c.Metadata.Name):
			return errdefs.InvalidField("container_ids", fmt.Sprintf("container %s's name %q cannot name a directory", id, c.Metadata.Name))
		}
		cs = append(cs, c)
	}

	// What is made in dir is removed on error, dir itself is the caller's.
	var made []string
	defer func() {
		if retErr == nil {
			return
		}
		for _, name := range made {
			if err := root.RemoveAll(name); err != nil {
				klog.ErrorS(err, "Removing a partial pod checkpoint", "dir", dir, "entry", name)
			}
		}
	}()
	started := time.Now()
	thaw, err := m.freeze(ctx, cs)
	if err != nil {
		return err
	}
	defer thaw()
	opts := metadata.CheckpointedPodOptions{
		Version:    podCheckpointVersion,
		Containers: map[string]string{},
		Annotations: map[string]string{
			metadata.CheckpointAnnotationEngine:   "crisp",
			metadata.CheckpointAnnotationHostArch: runtime.GOARCH,
			metadata.CheckpointAnnotationPodID:    podID,
		},
	}
	for _, c := range cs {
		name := c.Metadata.Name
		if _, dup := opts.Containers[name]; dup {
			return errdefs.InvalidField("container_ids", fmt.Sprintf("two containers are named %s", name))
		}
		if err := root.Mkdir(name, 0o700); err != nil {
			return fmt.Errorf("checkpoint pod %s: %w", podID, err)
		}
		made = append(made, name)
		if err := m.dump(ctx, c, filepath.Join(dir, name), started); err != nil {
			return err
		}
		opts.Containers[name] = name
	}
	if err := thaw(); err != nil {
		return err
	}
	made = append(made, metadata.PodOptionsFile)
	if err := writeJSON(filepath.Join(dir, metadata.PodOptionsFile), opts); err != nil {
		return fmt.Errorf("checkpoint pod %s: %w", podID, err)
	}
	klog.InfoS("Checkpointed pod", "pod", podID, "containers", len(cs), "dir", dir, "duration", time.Since(started))
	return nil
}

// openPodCheckpointDir opens the directory a pod checkpoint goes to: an
// existing, empty directory named by a clean absolute path, reached
// without magic links and not itself a symlink.
func openPodCheckpointDir(dir string) (*os.Root, error) {
	const field = "output_path"
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || strings.ContainsRune(dir, 0) {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("%q is not a clean absolute path", dir))
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{
		Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("%s: %v", dir, err))
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("%s is not empty", dir))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return os.OpenRoot(dir)
}

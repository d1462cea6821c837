package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.podman.io/storage/pkg/archive"
	"go.podman.io/storage/pkg/chrootarchive"
)

// WriteContainerChanges writes what container id changed in its root file
// system (mounted at rootfs) as the rootfs-diff.tar and deleted.files of a
// CRI-O checkpoint archive: a tar of the files it added or modified, read
// from rootfs without following symlinks, to w, and the paths it deleted,
// returned. The writable layer's own record of its changes says which.
func (s *Store) WriteContainerChanges(ctx context.Context, id, rootfs string, w io.Writer) ([]string, error) {
	c, err := s.store.Container(id)
	if err != nil {
		return nil, fmt.Errorf("container layer %s: %w", id, containerErr(err))
	}
	changes, err := s.store.Changes("", c.LayerID)
	if err != nil {
		return nil, fmt.Errorf("changes of container layer %s: %w", id, err)
	}
	var include, deleted []string
	for _, ch := range changes {
		switch ch.Kind {
		case archive.ChangeDelete:
			deleted = append(deleted, ch.Path)
		case archive.ChangeModify:
			// A directory of the image that changed below: its changed
			// entries are listed themselves, and naming it would
			// archive all of it.
			if fi, err := os.Lstat(filepath.Join(rootfs, ch.Path)); err == nil && fi.IsDir() {
				continue
			}
			include = append(include, ch.Path)
		default:
			include = append(include, ch.Path)
		}
	}
	if len(include) == 0 {
		// An empty tar: TarWithOptions takes no list as everything.
		return deleted, tar.NewWriter(w).Close()
	}
	r, err := archive.TarWithOptions(rootfs, &archive.TarOptions{Compression: archive.Uncompressed, IncludeFiles: include})
	if err != nil {
		return nil, fmt.Errorf("archive the changes of container %s: %w", id, err)
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return nil, fmt.Errorf("archive the changes of container %s: %w", id, err)
	}
	return deleted, nil
}

// ApplyContainerChanges brings a checkpoint's root file system changes
// into a new container's, mounted at rootfs: the files of the
// rootfs-diff.tar diff are unpacked, then the paths deleted lists are
// removed. diff is unpacked chrooted into rootfs, so neither a name in it
// nor a symlink of the image (or of the diff) reaches outside; deleted
// paths are removed through an os.Root of rootfs, for the same reason. A
// deleted path that is not there is no error: the image may lack it.
func (s *Store) ApplyContainerChanges(ctx context.Context, rootfs string, diff io.Reader, deleted []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if diff != nil {
		if err := chrootarchive.UntarUncompressed(diff, rootfs, &archive.TarOptions{}); err != nil {
			return fmt.Errorf("unpack the checkpoint's root file system changes: %w", err)
		}
	}
	if len(deleted) == 0 {
		return nil
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return fmt.Errorf("open root file system: %w", err)
	}
	defer root.Close()
	for _, p := range deleted {
		rel := strings.TrimPrefix(p, "/")
		if !filepath.IsLocal(rel) || filepath.Clean(rel) != rel {
			return fmt.Errorf("deleted file %q is not a clean path inside the root file system", p)
		}
		if err := root.RemoveAll(rel); err != nil {
			return fmt.Errorf("remove deleted file %s: %w", p, err)
		}
	}
	return nil
}

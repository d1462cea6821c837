package container

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxCheckpointEntries bounds the entries of a checkpoint archive: CRIU
// writes a few files per process, and the archive adds a handful.
const maxCheckpointEntries = 1 << 16

// extractCheckpoint unpacks the checkpoint archive r, an uncompressed tar,
// into the empty directory dir. A checkpoint holds only directories and
// regular files, so that is all it may hold: no links of either kind,
// devices or fifos, no name that leaves dir, no name twice. Files are made
// through an os.Root of dir, owned by root and readable by root only,
// whatever modes and owners the archive names. size is the archive's: what
// it unpacks to cannot be more (a sparse entry could claim terabytes of
// holes).
func extractCheckpoint(ctx context.Context, r io.Reader, size int64, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return errors.New("the archive is empty")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar archive: %w", err)
		}
		if n >= maxCheckpointEntries {
			return fmt.Errorf("more than %d entries", maxCheckpointEntries)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue // the archive's own root
		}
		if !filepath.IsLocal(name) || strings.ContainsRune(name, 0) {
			return fmt.Errorf("entry %q is not a path inside the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeReg:
			if h.Size > size {
				return fmt.Errorf("entry %q claims %d bytes, more than the archive holds", h.Name, h.Size)
			}
			size -= h.Size
			if err := extractFile(ctx, root, name, io.LimitReader(tr, h.Size)); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		default:
			return fmt.Errorf("entry %q is of type %q: a checkpoint holds only directories and regular files", h.Name, h.Typeflag)
		}
	}
}

// extractFile writes a new regular file name below root from r.
func extractFile(ctx context.Context, root *os.Root, name string, r io.Reader) error {
	if parent := path.Dir(name); parent != "." {
		if err := root.MkdirAll(parent, 0o700); err != nil {
			return err
		}
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, contextReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

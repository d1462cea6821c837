package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Usage is the disk space and inodes a part of the storage uses.
type Usage struct {
	// Bytes is the space allocated on disk.
	Bytes uint64
	// Inodes counts files, directories and links; hard links count once.
	Inodes uint64
}

func (u *Usage) add(o Usage) {
	u.Bytes += o.Bytes
	u.Inodes += o.Inodes
}

// diskUsage measures the tree at root like du: allocated blocks, each inode
// once, without descending into other filesystems (such as the mounted root
// filesystems of running containers). A missing root uses nothing.
func diskUsage(ctx context.Context, root string) (Usage, error) {
	var u Usage
	rootInfo, err := os.Lstat(root)
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, err
	}
	rootDev := rootInfo.Sys().(*syscall.Stat_t).Dev
	seen := make(map[uint64]bool)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if st.Dev != rootDev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		u.Inodes++
		u.Bytes += uint64(st.Blocks) * 512
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("disk usage of %s: %w", root, err)
	}
	return u, nil
}

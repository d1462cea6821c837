package image

import (
	"fmt"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Capacity is the size of the filesystem holding the storage, where the
// containers' writable layers live.
type Capacity struct {
	// Device is the mount source of that filesystem (/dev/sda1, overlay,
	// tmpfs ...); empty when mountinfo does not list the storage root.
	Device string
	// Bytes and AvailableBytes are the filesystem's size and the space
	// unprivileged writers may still use.
	Bytes, AvailableBytes uint64
	// Inodes and FreeInodes are its inode count and the inodes left.
	Inodes, FreeInodes uint64
}

// Capacity reads the size of the storage's filesystem with statfs(2).
func (s *Store) Capacity() (Capacity, error) {
	return capacity(s.Root())
}

func capacity(root string) (Capacity, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return Capacity{}, fmt.Errorf("statfs %s: %w", root, err)
	}
	bsize := uint64(st.Bsize)
	c := Capacity{
		Bytes:          st.Blocks * bsize,
		AvailableBytes: st.Bavail * bsize,
		Inodes:         st.Files,
		FreeInodes:     st.Ffree,
	}
	// The innermost mount holding root names the device.
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(root))
	if err != nil {
		return Capacity{}, fmt.Errorf("mounts holding %s: %w", root, err)
	}
	longest := -1
	for _, m := range mounts {
		if len(m.Mountpoint) > longest {
			longest, c.Device = len(m.Mountpoint), m.Source
		}
	}
	return c, nil
}

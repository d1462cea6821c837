package image

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCapacityIsTheFilesystemOfTheRoot(t *testing.T) {
	dir := t.TempDir()
	c, err := capacity(dir)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if c.Bytes != st.Blocks*uint64(st.Bsize) || c.Inodes != st.Files || c.Bytes == 0 || c.AvailableBytes > c.Bytes || c.FreeInodes > c.Inodes {
		t.Errorf("Capacity = %+v, statfs %+v", c, st)
	}
	if c.Device == "" {
		t.Errorf("Capacity names no device for %s", dir)
	}
	if _, err := capacity(dir + "/missing"); err == nil {
		t.Error("Capacity of a missing directory succeeded")
	}
}

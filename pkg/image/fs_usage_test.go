package image

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestFsUsageAccounting(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	s := openTestStore(t, opts)
	ctx := context.Background()

	empty, err := s.FsUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if empty.Mountpoint != opts.Root || empty.Timestamp.IsZero() {
		t.Fatalf("usage %+v: want mountpoint %s and a timestamp", empty, opts.Root)
	}

	const layerSize = 1 << 20
	img, err := testregistry.LayeredImage(runtime.GOARCH, 77, 3, layerSize, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := push(t, reg, "usage/image:1", img)
	if _, err := s.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	pulled, err := s.FsUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	grew := pulled.Images.Bytes - empty.Images.Bytes
	if grew < 3*layerSize || grew > 3*layerSize+1<<20 {
		t.Errorf("image filesystem grew %d bytes for 3 layers of %d", grew, layerSize)
	}
	if pulled.Images.Inodes < empty.Images.Inodes+3 {
		t.Errorf("image inodes %d -> %d, want at least 3 more", empty.Images.Inodes, pulled.Images.Inodes)
	}
	if pulled.Containers != empty.Containers {
		t.Errorf("a pull changed the container filesystem: %+v -> %+v", empty.Containers, pulled.Containers)
	}

	c, err := s.CreateContainerLayer(ctx, "writer", ref)
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.Mount(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	const written = 2 << 20
	if err := os.WriteFile(filepath.Join(root, "out"), make([]byte, written), 0o644); err != nil {
		t.Fatal(err)
	}
	withContainer, err := s.FsUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := withContainer.Containers.Bytes - pulled.Containers.Bytes; d < written {
		t.Errorf("container filesystem grew %d bytes after writing %d", d, written)
	}
	// The mounted root filesystem is not counted again as image usage.
	if withContainer.Images.Bytes-pulled.Images.Bytes > 1<<20 {
		t.Errorf("image filesystem grew %d bytes with a mounted container", withContainer.Images.Bytes-pulled.Images.Bytes)
	}

	if err := s.RemoveContainerLayer(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, ref); err != nil {
		t.Fatal(err)
	}
	cleaned, err := s.FsUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cleaned.Images.Bytes > empty.Images.Bytes+64<<10 || cleaned.Containers.Bytes > empty.Containers.Bytes+64<<10 {
		t.Errorf("after removal usage %+v, want about %+v", cleaned, empty)
	}
}

package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestContainerLayerLifecycle(t *testing.T) {
	for _, driver := range []string{DriverOverlay, DriverVFS} {
		t.Run(driver, func(t *testing.T) {
			reg := startRegistry(t, testregistry.Options{})
			opts := testOptions(t, driver, reg)
			s := openTestStore(t, opts)
			if s.Driver() != driver {
				t.Skipf("needs the %s storage driver to mount here; storage chose %s", driver, s.Driver())
			}
			ctx := context.Background()
			ref, _ := push(t, reg, "layers/busybox:1", busybox(t))
			img, err := s.Pull(ctx, ref, nil)
			if err != nil {
				t.Fatal(err)
			}

			c, err := s.CreateContainerLayer(ctx, "ctr-1", ref)
			if err != nil {
				t.Fatal(err)
			}
			if c.ImageID != img.ID || c.LayerID == "" {
				t.Fatalf("layer %+v, want on image %s", c, img.ID)
			}
			if _, err := s.CreateContainerLayer(ctx, "ctr-1", ref); !errors.Is(err, errdefs.ErrAlreadyExists) {
				t.Errorf("duplicate = %v, want already exists", err)
			}
			list, err := s.ContainerLayers(ctx)
			if err != nil || len(list) != 1 || list[0] != *c {
				t.Errorf("ContainerLayers = %v, %v", list, err)
			}

			root, err := s.Mount(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(root, "bin", "busybox")); err != nil || fi.Mode()&0o111 == 0 {
				t.Fatalf("rootfs has no executable /bin/busybox: %v", err)
			}
			again, err := s.Mount(ctx, c.ID)
			if err != nil || again != root {
				t.Errorf("second Mount = %s, %v; want %s", again, err, root)
			}
			before, _, err := s.DiskUsage(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			const written = 3 << 20
			if err := os.WriteFile(filepath.Join(root, "tmp", "data"), make([]byte, written), 0o644); err != nil {
				t.Fatal(err)
			}
			// Zeros still take blocks: fsync so the allocation shows.
			f, _ := os.Open(filepath.Join(root, "tmp", "data"))
			f.Sync()
			f.Close()
			after, _, err := s.DiskUsage(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.Bytes-before.Bytes < written || after.Inodes <= before.Inodes {
				t.Errorf("usage went from %+v to %+v after writing %d bytes", before, after, written)
			}

			if err := s.Unmount(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(mountsUnder(t, filepath.Dir(opts.Root)), root) {
				t.Errorf("%s still mounted after Unmount", root)
			}
			if err := s.Unmount(ctx, c.ID); err != nil {
				t.Errorf("Unmount of an unmounted layer = %v", err)
			}
			// The written file survives an unmount.
			root, err = s.Mount(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, "tmp", "data")); err != nil {
				t.Errorf("written file lost across remount: %v", err)
			}

			// Removing a mounted layer unmounts it.
			if err := s.RemoveContainerLayer(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			if m := mountsUnder(t, filepath.Dir(opts.Root)); len(m) > 0 {
				t.Errorf("mounts left after removal: %v", m)
			}
			if err := s.RemoveContainerLayer(ctx, c.ID); err != nil {
				t.Errorf("second removal = %v", err)
			}
			if _, _, err := s.DiskUsage(ctx, c.ID); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("DiskUsage of a removed layer = %v, want not found", err)
			}
			if _, err := s.Mount(ctx, c.ID); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("Mount of a removed layer = %v, want not found", err)
			}
		})
	}
}

func TestCreateContainerLayerBadInput(t *testing.T) {
	s := openTestStore(t, testOptions(t, DriverOverlay))
	ctx := context.Background()
	if _, err := s.CreateContainerLayer(ctx, "", "busybox"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("empty id = %v, want invalid argument", err)
	}
	if _, err := s.CreateContainerLayer(ctx, "c", "no/such:image"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown image = %v, want not found", err)
	}
	if cs, err := s.ContainerLayers(ctx); err != nil || len(cs) != 0 {
		t.Errorf("failed creations left layers: %v %v", cs, err)
	}
}

// With WritableUsageMaxAge, DiskUsage answers from its last measure until
// that is as old, and never for a removed layer.
func TestDiskUsageMaxAge(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverVFS, reg)
	opts.WritableUsageMaxAge = time.Hour
	s := openTestStore(t, opts)
	ctx := context.Background()
	ref, _ := push(t, reg, "usage/busybox:1", busybox(t))
	if _, err := s.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateContainerLayer(ctx, "ctr-1", ref); err != nil {
		t.Fatal(err)
	}
	root, err := s.Mount(ctx, "ctr-1")
	if err != nil {
		t.Fatal(err)
	}
	before, at, err := s.DiskUsage(ctx, "ctr-1")
	if err != nil || at.IsZero() || time.Since(at) > time.Minute {
		t.Fatalf("DiskUsage = %+v at %v, %v", before, at, err)
	}
	if err := os.WriteFile(filepath.Join(root, "data"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	again, againAt, err := s.DiskUsage(ctx, "ctr-1")
	if err != nil || again != before || !againAt.Equal(at) {
		t.Errorf("DiskUsage within the hour = %+v at %v, %v; want the first measure %+v at %v", again, againAt, err, before, at)
	}
	s.opts.WritableUsageMaxAge = time.Nanosecond
	fresh, freshAt, err := s.DiskUsage(ctx, "ctr-1")
	if err != nil || fresh.Bytes <= before.Bytes || !freshAt.After(at) {
		t.Errorf("DiskUsage once the measure is old = %+v at %v, %v; want more than %+v after %v", fresh, freshAt, err, before, at)
	}
	s.opts.WritableUsageMaxAge = time.Hour
	if err := s.RemoveContainerLayer(ctx, "ctr-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.DiskUsage(ctx, "ctr-1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("DiskUsage of a removed layer = %v, want not found", err)
	}
}

package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestLayerOwner(t *testing.T) {
	for id, want := range map[string]string{
		"abc":                    "abc",
		imageVolumeID("abc", 0):  "abc",
		imageVolumeID("abc", 17): "abc",
		"abc-imagevolume-x":      "abc-imagevolume-x",
		"-imagevolume-1":         "-imagevolume-1",
	} {
		if got := layerOwner(id); got != want {
			t.Errorf("layerOwner(%q) = %q, want %q", id, got, want)
		}
	}
}

// An image volume is the image's file system; its sub path stays inside
// the image. Reclaiming keeps the volumes of a live container and removes
// those of a gone one; the image cannot be removed while a volume stands
// on it.
func TestImageVolumes(t *testing.T) {
	requireRoot(t)
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	ref, _ := push(t, reg, "volumes/busybox:1", busybox(t))
	ctx := context.Background()
	img, err := s.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}

	v, err := s.CreateImageVolume(ctx, "live", 0, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v.Source, "bin", "busybox")); err != nil || v.ImageID != img.ID {
		t.Errorf("volume %+v: %v; want the image's root", v, err)
	}
	sub, err := s.CreateImageVolume(ctx, "live", 3, img.ID, "etc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sub.Source, "passwd")); err != nil {
		t.Errorf("sub path volume %+v: %v", sub, err)
	}
	if _, err := s.CreateImageVolume(ctx, "gone", 1, ref, ""); err != nil {
		t.Fatal(err)
	}
	var fe *errdefs.FieldError
	if _, err := s.CreateImageVolume(ctx, "gone", 2, ref, "../etc"); !errors.As(err, &fe) || fe.Field != "sub path" {
		t.Errorf("sub path out of the image: %v, want a sub path field error", err)
	}

	if err := s.Remove(ctx, ref); !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "image volume of container") {
		t.Errorf("Remove of an image with volumes: %v, want a failed precondition naming the volume", err)
	}
	removed, err := s.ReclaimContainerLayers(ctx, func(id string) bool { return id == "live" })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{imageVolumeID("gone", 1)}) {
		t.Errorf("reclaimed %v, want only the volume of the gone container", removed)
	}
	for _, n := range []int{0, 3, 3} {
		if err := s.RemoveImageVolume(ctx, "live", n); err != nil {
			t.Fatalf("RemoveImageVolume %d: %v", n, err)
		}
	}
	if layers, err := s.ContainerLayers(ctx); err != nil || len(layers) != 0 {
		t.Errorf("container layers left: %v, %v", layers, err)
	}
	if m := mountsUnder(t, s.opts.Root); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
	if err := s.Remove(ctx, ref); err != nil {
		t.Errorf("Remove once the volumes are gone: %v", err)
	}
}

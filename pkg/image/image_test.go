package image

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestListStatusRemove(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	opts.Pinned = []string{reg.Addr() + "/pinned/*"}
	s := openTestStore(t, opts)
	ctx := context.Background()

	bb := busybox(t)
	other, err := testregistry.LayeredImage(runtime.GOARCH, 42, 1, 1024, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	refA, _ := push(t, reg, "apps/busybox:a", bb)
	refB, _ := push(t, reg, "apps/busybox:b", bb) // same image, second tag
	refP, _ := push(t, reg, "pinned/data:1", other)
	var ids []string
	for _, ref := range []string{refA, refB, refP} {
		img, err := s.Pull(ctx, ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, img.ID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("two tags of one image got IDs %s and %s", ids[0], ids[1])
	}

	all, err := s.List(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("List = %d images, %v; want 2", len(all), err)
	}
	for _, img := range all {
		switch img.ID {
		case ids[0]:
			slices.Sort(img.RepoTags)
			if !slices.Equal(img.RepoTags, []string{refA, refB}) || img.Pinned {
				t.Errorf("busybox: tags %v pinned %v", img.RepoTags, img.Pinned)
			}
		case ids[2]:
			if !img.Pinned {
				t.Errorf("%s is not pinned", refP)
			}
		default:
			t.Errorf("unexpected image %s", img.ID)
		}
	}
	for _, tt := range []struct {
		filter string
		want   int
	}{{refA, 1}, {ids[2][:12], 1}, {reg.Addr() + "/apps/busybox:c", 0}} {
		got, err := s.List(ctx, tt.filter)
		if err != nil || len(got) != tt.want {
			t.Errorf("List(%s) = %d images, %v; want %d", tt.filter, len(got), err, tt.want)
		}
	}

	// Unknown and malformed references.
	if _, err := s.Get(ctx, reg.Addr()+"/apps/busybox:c"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want not found", err)
	}
	if _, err := s.Get(ctx, "Bad Ref"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Get(malformed) = %v, want invalid argument", err)
	}

	// Removing by one tag removes the image with all its tags.
	if err := s.Remove(ctx, refA); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, refB); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("after removing %s, %s = %v; want gone", refA, refB, err)
	}
	// Idempotent.
	if err := s.Remove(ctx, refA); err != nil {
		t.Errorf("second Remove = %v", err)
	}
	if err := s.Remove(ctx, ids[0]); err != nil {
		t.Errorf("Remove by a gone ID = %v", err)
	}
	// By digest.
	img, err := s.Get(ctx, refP)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, img.RepoDigests[0]); err != nil {
		t.Fatal(err)
	}
	if imgs, layers := storedCounts(t, s); imgs != 0 || layers != 0 {
		t.Errorf("after removing everything: %d images, %d layers", imgs, layers)
	}
}

func TestRemoveImageInUse(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	ctx := context.Background()
	ref, _ := push(t, reg, "inuse/busybox:1", busybox(t))
	img, err := s.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateContainerLayer(ctx, "c1", ref); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{ref, img.ID} {
		if err := s.Remove(ctx, q); !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("Remove(%s) while in use = %v, want failed precondition", q, err)
		}
	}
	if _, err := s.Get(ctx, ref); err != nil {
		t.Errorf("image in use was removed: %v", err)
	}
	if err := s.RemoveContainerLayer(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, ref); err != nil {
		t.Errorf("Remove after the container went = %v", err)
	}
}

// TestRemoveImageUnderOrphanLayer: a writable layer a crash left without its
// container record (until ReclaimContainerLayers removes it) still stands on
// the image, so removing the image fails rather than dropping its name and
// leaving every layer on disk.
func TestRemoveImageUnderOrphanLayer(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	ctx := context.Background()
	ref, _ := push(t, reg, "orphan/busybox:1", busybox(t))
	img, err := s.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What a crash between storage's two steps leaves: the claimed layer,
	// no container record.
	layerID := containerLayerID("ghost")
	if err := s.claims.claim(layerID, "ghost"); err != nil {
		t.Fatal(err)
	}
	stored, err := s.store.Image(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.CreateLayer(layerID, stored.TopLayer, nil, "", true, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, ref); !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("Remove under an orphan layer = %v, want failed precondition naming ghost", err)
	}
	if _, err := s.Get(ctx, ref); err != nil {
		t.Fatalf("image was removed: %v", err)
	}
	if _, err := s.ReclaimContainerLayers(ctx, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, ref); err != nil {
		t.Fatalf("Remove after reclaim = %v", err)
	}
	if images, layers := storedCounts(t, s); images != 0 || layers != 0 {
		t.Fatalf("after Remove: %d images and %d layers, want none", images, layers)
	}
}

// Removals of one image at once all succeed, as critest's image
// consistency spec requires: the ones that lose the race find it gone.
func TestRemoveImageConcurrently(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	ctx := context.Background()
	ref, _ := push(t, reg, "concurrent/busybox:1", busybox(t))
	for round := range 5 {
		img, err := s.Pull(ctx, ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 8)
		for i := range cap(errs) {
			q := ref
			if i%2 == 1 {
				q = img.ID
			}
			go func() { errs <- s.Remove(ctx, q) }()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Errorf("round %d: concurrent Remove = %v", round, err)
			}
		}
	}
}

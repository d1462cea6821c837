package image

import (
	"context"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// Layers removed in the background are gone for the store's callers as
// soon as RemoveContainerLayersLater returns: unmounted, not listed, the
// image they stood on removable at once; Close waits for their deletion.
func TestRemoveContainerLayersLater(t *testing.T) {
	requireRoot(t)
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	ref, _ := push(t, reg, "later/busybox:1", busybox(t))
	ctx := context.Background()
	if _, err := s.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	const rounds = 5
	for i := range rounds {
		owner := "ctr-" + string(rune('a'+i))
		if _, err := s.CreateContainerLayer(ctx, owner, ref); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mount(ctx, owner); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateImageVolume(ctx, owner, 2, ref, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveContainerLayersLater(ctx, owner, []int{2}); err != nil {
			t.Fatal(err)
		}
		if m := mountsUnder(t, s.opts.Root); len(m) != 0 {
			t.Fatalf("round %d: mounts left once RemoveContainerLayersLater returned: %v", i, m)
		}
		if i == rounds-1 {
			break
		}
		if err := s.Remove(ctx, ref); err != nil {
			t.Fatalf("round %d: RemoveImage right after its container's removal: %v", i, err)
		}
		if layers, err := s.ContainerLayers(ctx); err != nil || len(layers) != 0 {
			t.Fatalf("round %d: container layers listed after their removal: %v, %v", i, layers, err)
		}
		// The next round pulls the image again.
		if _, err := s.Pull(ctx, ref, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Close waits for the last round's deletion.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	claims, err := s.claims.list()
	if err != nil || len(claims) != 0 {
		t.Errorf("claims left after Close: %v, %v", claims, err)
	}
}

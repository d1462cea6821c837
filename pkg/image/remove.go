package image

import (
	"context"
	"errors"
	"fmt"

	"go.podman.io/storage"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Remove removes the image ref names (an ID, a tag or a digest) with all its
// names, as CRI requires of RemoveImage. Removing an unknown image succeeds.
// An image a container layer or an image volume stands on is
// errdefs.ErrFailedPrecondition:
// storage refuses an image its containers use, and a writable layer a crash
// left without its container record (ReclaimContainerLayers removes those)
// would keep the image's layers on disk with the image gone from the list.
func (s *Store) Remove(ctx context.Context, ref string) error {
	// A removed container's layer may still be on its way out.
	if err := s.removals.Wait(ctx); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	img, err := s.resolve(ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	owner, err := s.containerLayerOn(img)
	if err != nil {
		return fmt.Errorf("remove image %s (%s): %w", ref, img.ID, err)
	}
	if owner != "" {
		return fmt.Errorf("remove image %s (%s): %s stands on it: %w", ref, img.ID, describeOwner(owner), errdefs.ErrFailedPrecondition)
	}
	if _, err := s.store.DeleteImage(img.ID, true); err != nil {
		if errors.Is(err, storage.ErrImageUsedByContainer) {
			return fmt.Errorf("remove image %s (%s): a container uses it: %w", ref, img.ID, errdefs.ErrFailedPrecondition)
		}
		// A concurrent RemoveImage of the same image got there first:
		// storage says the id is unknown, or, once its name is gone,
		// that the id names no image.
		if errors.Is(err, storage.ErrImageUnknown) || errors.Is(err, storage.ErrNotAnImage) {
			return nil
		}
		return fmt.Errorf("remove image %s (%s): %w", ref, img.ID, err)
	}
	s.meta.retain(s.knownIDs())
	klog.InfoS("Removed image", "image", ref, "id", img.ID)
	return nil
}

// containerLayerOn returns the container whose claimed writable layer stands
// directly on img, or "".
func (s *Store) containerLayerOn(img *storage.Image) (string, error) {
	claims, err := s.claims.list()
	if err != nil || len(claims) == 0 {
		return "", err
	}
	tops := map[string]bool{img.TopLayer: true}
	for _, l := range img.MappedTopLayers {
		tops[l] = true
	}
	for layerID, owner := range claims {
		l, err := s.store.Layer(layerID)
		if errors.Is(err, storage.ErrLayerUnknown) {
			continue
		}
		if err != nil {
			return "", err
		}
		if tops[l.Parent] {
			if owner == "" {
				owner = "(unrecorded, layer " + layerID + ")"
			}
			return owner, nil
		}
	}
	return "", nil
}

// knownIDs returns the IDs of the stored images; on error it returns nil,
// which empties the metadata cache (it refills on demand).
func (s *Store) knownIDs() map[string]bool {
	imgs, err := s.store.Images()
	if err != nil {
		return nil
	}
	ids := make(map[string]bool, len(imgs))
	for _, img := range imgs {
		ids[img.ID] = true
	}
	return ids
}

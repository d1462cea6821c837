package image

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/storage"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Remove removes the image ref names. By ID or digest the image goes with all
// its names; by tag only that tag goes, and the image with it when it was the
// last name. Removing an unknown image succeeds. An image a container layer
// stands on is errdefs.ErrFailedPrecondition.
func (s *Store) Remove(ctx context.Context, ref string) error {
	img, err := s.resolve(ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if tag, ok := s.tagOf(ref, img); ok && len(img.Names) > 1 {
		if err := s.store.RemoveNames(img.ID, []string{tag}); err != nil {
			return fmt.Errorf("untag %s: %w", tag, err)
		}
		klog.InfoS("Untagged image", "image", tag, "id", img.ID)
		return nil
	}
	if _, err := s.store.DeleteImage(img.ID, true); err != nil {
		if errors.Is(err, storage.ErrImageUsedByContainer) {
			return fmt.Errorf("remove image %s (%s): a container uses it: %w", ref, img.ID, errdefs.ErrFailedPrecondition)
		}
		if errors.Is(err, storage.ErrImageUnknown) {
			return nil
		}
		return fmt.Errorf("remove image %s (%s): %w", ref, img.ID, err)
	}
	s.meta.retain(s.knownIDs())
	klog.InfoS("Removed image", "image", ref, "id", img.ID)
	return nil
}

// tagOf returns the stored name ref means when ref is a reference by tag
// rather than an ID or a digest.
func (s *Store) tagOf(ref string, img *storage.Image) (string, bool) {
	if id, ok := looksLikeID(ref); ok && strings.HasPrefix(img.ID, id) {
		return "", false
	}
	named, err := ParseReference(ref)
	if err != nil {
		return "", false
	}
	if _, digested := named.(reference.Canonical); digested {
		return "", false
	}
	return named.String(), slices.Contains(img.Names, named.String())
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

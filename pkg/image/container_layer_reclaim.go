package image

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/klog/v2"
)

// ReclaimContainerLayers removes every container layer whose container live
// does not report as existing: layers of containers whose records are gone,
// and layers a crash left half-made, with no container record in storage.
// A container's image volumes go with it: live is asked about the
// container that owns them.
// The daemon calls it once at start-up, with its container records loaded
// and before it creates containers, so that no crash leaks a layer and with
// it the image layers below. It returns the IDs of the containers whose
// layers it removed; a layer it cannot remove is an error, and the others
// are still removed.
func (s *Store) ReclaimContainerLayers(ctx context.Context, live func(id string) bool) ([]string, error) {
	var removed []string
	var errs []error
	reclaim := func(owner string) {
		if err := s.RemoveContainerLayer(ctx, owner); err != nil {
			errs = append(errs, err)
			return
		}
		removed = append(removed, owner)
		klog.InfoS("Removed the writable layer of a container that no longer exists", "container", owner)
	}

	if err := s.removals.Wait(ctx); err != nil {
		return nil, err
	}
	s.claims.removeUnfinished()
	claims, err := s.claims.list()
	if err != nil {
		return nil, err
	}
	for layerID, owner := range claims {
		if owner != "" && containerLayerID(owner) == layerID {
			if !live(layerOwner(owner)) {
				reclaim(owner)
			}
			continue
		}
		// An owner cut short or altered: no container can own the layer.
		if err := s.deleteLayer(layerID); err != nil {
			errs = append(errs, fmt.Errorf("remove unowned container layer %s: %w", layerID, err))
			continue
		}
		if err := s.claims.release(layerID); err != nil {
			errs = append(errs, err)
			continue
		}
		klog.InfoS("Removed a container layer whose owner was not recorded", "layer", layerID)
	}

	// Containers made before their layers were claimed, or whose claim
	// was lost: storage's own record names them.
	containers, err := s.store.Containers()
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("list container layers: %w", err))...)
	}
	for _, c := range containers {
		if !live(layerOwner(c.ID)) {
			reclaim(c.ID)
		}
	}
	return removed, errors.Join(errs...)
}

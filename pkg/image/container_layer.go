package image

import (
	"context"
	"errors"
	"fmt"

	"go.podman.io/storage"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// ContainerLayer is a container's writable layer on top of its image.
type ContainerLayer struct {
	// ID is the container ID the layer was created for.
	ID string
	// ImageID is the image the layer stands on.
	ImageID string
	// LayerID is the storage layer.
	LayerID string
}

// CreateContainerLayer creates the writable layer of container id on the
// image imageRef names (an ID or a reference). While it exists the image
// cannot be removed. The layer's ID is fixed by id and its owner is recorded
// before it is made, so that a crash at any point leaves a layer that
// RemoveContainerLayer and ReclaimContainerLayers find.
func (s *Store) CreateContainerLayer(ctx context.Context, id, imageRef string) (*ContainerLayer, error) {
	if id == "" {
		return nil, errdefs.InvalidField("container id", "must not be empty")
	}
	if len(id) > maxOwnerLen {
		return nil, errdefs.InvalidField("container id", fmt.Sprintf("must be at most %d bytes", maxOwnerLen))
	}
	img, err := s.resolve(imageRef)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	if _, err := s.store.Container(id); err == nil {
		return nil, fmt.Errorf("container layer %s: %w", id, errdefs.ErrAlreadyExists)
	}
	layerID := containerLayerID(id)
	if err := s.claims.claim(layerID, id); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	c, err := s.store.CreateContainer(id, nil, img.ID, layerID, "", nil)
	if err != nil {
		// storage removed the layer it made; a duplicate belongs to
		// another creation, which keeps its claim.
		if errors.Is(err, storage.ErrDuplicateID) {
			return nil, fmt.Errorf("container layer %s: %w", id, errdefs.ErrAlreadyExists)
		}
		if rerr := s.claims.release(layerID); rerr != nil {
			klog.ErrorS(rerr, "Forgetting the owner of a container layer not made", "container", id)
		}
		return nil, fmt.Errorf("create container layer %s on image %s: %w", id, img.ID, err)
	}
	return &ContainerLayer{ID: c.ID, ImageID: c.ImageID, LayerID: c.LayerID}, nil
}

// ContainerLayers lists the container layers in the store, so that a
// restarted daemon can match them with its containers.
func (s *Store) ContainerLayers(ctx context.Context) ([]ContainerLayer, error) {
	cs, err := s.store.Containers()
	if err != nil {
		return nil, fmt.Errorf("list container layers: %w", err)
	}
	out := make([]ContainerLayer, 0, len(cs))
	for _, c := range cs {
		out = append(out, ContainerLayer{ID: c.ID, ImageID: c.ImageID, LayerID: c.LayerID})
	}
	return out, nil
}

// Mount mounts the root filesystem of container id (image layers below its
// writable layer) and returns its path. Mounting a mounted layer returns
// the same path.
func (s *Store) Mount(ctx context.Context, id string) (string, error) {
	path, err := s.store.Mount(id, "")
	if err != nil {
		return "", fmt.Errorf("mount container layer %s: %w", id, containerErr(err))
	}
	return path, nil
}

// Unmount unmounts the root filesystem of container id however often it was
// mounted. Unmounting a layer that is not mounted succeeds.
func (s *Store) Unmount(ctx context.Context, id string) error {
	if _, err := s.store.Unmount(id, true); err != nil && !errors.Is(err, storage.ErrLayerNotMounted) {
		return fmt.Errorf("unmount container layer %s: %w", id, containerErr(err))
	}
	return nil
}

// RemoveContainerLayer unmounts and deletes the writable layer of container
// id, also when a crash left the layer without its container record.
// Removing a missing layer succeeds.
func (s *Store) RemoveContainerLayer(ctx context.Context, id string) error {
	err := s.store.DeleteContainer(id)
	if err != nil && !errors.Is(err, storage.ErrContainerUnknown) && !errors.Is(err, storage.ErrNotAContainer) {
		return fmt.Errorf("remove container layer %s: %w", id, err)
	}
	layerID := containerLayerID(id)
	if err := s.deleteLayer(layerID); err != nil {
		return fmt.Errorf("remove container layer %s: %w", id, err)
	}
	return s.claims.release(layerID)
}

// deleteLayer deletes the layer layerID if it exists, unmounting it.
func (s *Store) deleteLayer(layerID string) error {
	if _, err := s.store.Layer(layerID); errors.Is(err, storage.ErrLayerUnknown) {
		return nil
	}
	if _, err := s.store.Unmount(layerID, true); err != nil && !errors.Is(err, storage.ErrLayerNotMounted) &&
		!errors.Is(err, storage.ErrLayerUnknown) {
		return err
	}
	if err := s.store.DeleteLayer(layerID); err != nil && !errors.Is(err, storage.ErrLayerUnknown) &&
		!errors.Is(err, storage.ErrNotALayer) {
		return err
	}
	return nil
}

// DiskUsage returns the disk space and inodes the writable layer of
// container id uses (what the container wrote, not its image).
func (s *Store) DiskUsage(ctx context.Context, id string) (Usage, error) {
	c, err := s.store.Container(id)
	if err != nil {
		return Usage{}, fmt.Errorf("container layer %s: %w", id, containerErr(err))
	}
	u, err := s.containerUsage(ctx, c)
	if err != nil {
		return Usage{}, fmt.Errorf("container layer %s: %w", id, err)
	}
	return u, nil
}

// containerErr classifies storage's unknown-container errors.
func containerErr(err error) error {
	if errors.Is(err, storage.ErrContainerUnknown) || errors.Is(err, storage.ErrNotAContainer) ||
		errors.Is(err, storage.ErrLayerUnknown) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	return err
}

package image

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.podman.io/storage"
	"go.podman.io/storage/pkg/idtools"
	"go.podman.io/storage/types"
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
	return s.createContainerLayer(ctx, id, imageRef, nil)
}

// IDMapping maps Size ids from ContainerID in a user namespace to HostID.
type IDMapping struct {
	ContainerID, HostID, Size uint32
}

// CreateIDMappedContainerLayer is CreateContainerLayer for a container in
// a user namespace with the maps uids and gids: its root file system is
// mounted on idmapped image layers, so that the namespace's root owns what
// the host's root owns in the image, and its writable layer belongs to the
// namespace's root. Image layers are never copied and chowned: a kernel or
// storage driver that cannot idmap them (overlay on idmapped layers needs
// Linux 5.19) is refused.
func (s *Store) CreateIDMappedContainerLayer(ctx context.Context, id, imageRef string, uids, gids []IDMapping) (*ContainerLayer, error) {
	conv := func(maps []IDMapping) []idtools.IDMap {
		out := make([]idtools.IDMap, 0, len(maps))
		for _, m := range maps {
			out = append(out, idtools.IDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		return out
	}
	opts := &storage.ContainerOptions{IDMappingOptions: types.IDMappingOptions{UIDMap: conv(uids), GIDMap: conv(gids)}}
	if len(opts.UIDMap) == 0 || len(opts.GIDMap) == 0 {
		return nil, errdefs.InvalidField("id mappings", "must map uids and gids")
	}
	if err := s.SupportsIDMappedLayers(); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return s.createContainerLayer(ctx, id, imageRef, opts)
}

// SupportsIDMappedLayers says why the store cannot mount a container's
// root file system on idmapped image layers, or nil when it can.
func (s *Store) SupportsIDMappedLayers() error {
	driver, err := s.store.GraphDriver()
	if err != nil {
		return fmt.Errorf("storage driver: %w", err)
	}
	probe := []idtools.IDMap{{ContainerID: 0, HostID: 1 << 30, Size: 1}}
	if !driver.SupportsShifting(probe, probe) {
		return fmt.Errorf("the %s storage driver cannot mount image layers idmapped on this kernel (overlay on idmapped layers needs Linux 5.19): %w",
			driver.String(), errdefs.ErrNotImplemented)
	}
	return nil
}

func (s *Store) createContainerLayer(ctx context.Context, id, imageRef string, opts *storage.ContainerOptions) (*ContainerLayer, error) {
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
	c, err := s.store.CreateContainer(id, nil, img.ID, layerID, "", opts)
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
	if err := s.removals.Wait(ctx); err != nil {
		return nil, fmt.Errorf("list container layers: %w", err)
	}
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
	s.usage.forgetWritable(id)
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
// container id uses (what the container wrote, not its image) and when it
// was measured: less than WritableUsageMaxAge ago.
func (s *Store) DiskUsage(ctx context.Context, id string) (Usage, time.Time, error) {
	if m, ok := s.usage.writable(id, s.opts.WritableUsageMaxAge); ok {
		return m.usage, m.at, nil
	}
	c, err := s.store.Container(id)
	if err != nil {
		return Usage{}, time.Time{}, fmt.Errorf("container layer %s: %w", id, containerErr(err))
	}
	m := measuredUsage{at: time.Now()}
	if m.usage, err = s.containerUsage(ctx, c); err != nil {
		return Usage{}, time.Time{}, fmt.Errorf("container layer %s: %w", id, err)
	}
	if s.opts.WritableUsageMaxAge > 0 {
		s.usage.setWritable(id, m)
	}
	return m.usage, m.at, nil
}

// containerErr classifies storage's unknown-container errors.
func containerErr(err error) error {
	if errors.Is(err, storage.ErrContainerUnknown) || errors.Is(err, storage.ErrNotAContainer) ||
		errors.Is(err, storage.ErrLayerUnknown) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	return err
}

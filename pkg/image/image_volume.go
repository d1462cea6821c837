package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// An image volume is an image's file system mounted into a container
// (CRI Mount.image, Kubernetes' image volume source). Each is a container
// layer of its own on the image, as containerd makes a snapshot view per
// volume: while it exists the image cannot be removed, and its layer ID
// and claim derive from its owner, so a crash at any point leaves a layer
// that RemoveImageVolume and ReclaimContainerLayers find. The container
// sees it through a read-only bind; nothing writes to the layer.

// imageVolumeSep joins a container ID and a volume's index into the ID of
// the volume's layer. Container IDs are hex, so the owner is unambiguous.
const imageVolumeSep = "-imagevolume-"

// maxImageVolumes bounds the index of an image volume, so that the layer ID
// stays within the bounds of an owner.
const maxImageVolumes = 1 << 16

// imageVolumeID is the container-layer ID of image volume n of container
// owner.
func imageVolumeID(owner string, n int) string {
	return owner + imageVolumeSep + strconv.Itoa(n)
}

// layerOwner is the container a container layer belongs to: the layer's
// own ID, or the container of an image volume.
func layerOwner(id string) string {
	i := strings.LastIndex(id, imageVolumeSep)
	if i <= 0 {
		return id
	}
	if _, err := strconv.ParseUint(id[i+len(imageVolumeSep):], 10, 32); err != nil {
		return id
	}
	return id[:i]
}

// describeOwner names what a container layer is, for errors.
func describeOwner(id string) string {
	if owner := layerOwner(id); owner != id {
		return "an image volume of container " + owner
	}
	return "the writable layer of container " + id
}

// ImageVolume is an image mounted for a container's volume.
type ImageVolume struct {
	// ImageID is the ID of the mounted image.
	ImageID string
	// Source is the host path the container binds: the image's root, or
	// the sub path asked for inside it, with no symlink left in it.
	Source string
}

// CreateImageVolume makes image volume n of container owner from the image
// imageRef names (an ID or a reference) and mounts it. subPath, if not
// empty, is a relative path inside the image whose directory or file the
// volume shows instead of the image's root; its symlinks are resolved
// inside the image, never out of it, and it must exist (an
// *errdefs.FieldError for field "sub path" otherwise). On failure the caller removes
// what was made with RemoveImageVolume.
func (s *Store) CreateImageVolume(ctx context.Context, owner string, n int, imageRef, subPath string) (*ImageVolume, error) {
	if n < 0 || n >= maxImageVolumes {
		return nil, fmt.Errorf("image volume %d of container %s: index out of range: %w", n, owner, errdefs.ErrInvalidArgument)
	}
	if subPath != "" && !filepath.IsLocal(subPath) {
		return nil, errdefs.InvalidField("sub path", fmt.Sprintf("%q is not a relative path inside the image", subPath))
	}
	id := imageVolumeID(owner, n)
	layer, err := s.CreateContainerLayer(ctx, id, imageRef)
	if err != nil {
		return nil, err
	}
	root, err := s.Mount(ctx, id)
	if err != nil {
		return nil, err
	}
	source := root
	if subPath != "" {
		if source, err = securejoin.SecureJoin(root, subPath); err != nil {
			return nil, fmt.Errorf("sub path %q in image %s: %w", subPath, layer.ImageID, err)
		}
		_, err := os.Lstat(source)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.InvalidField("sub path", fmt.Sprintf("%q does not exist in image %s", subPath, layer.ImageID))
		}
		if err != nil {
			return nil, fmt.Errorf("sub path %q in image %s: %w", subPath, layer.ImageID, err)
		}
	}
	return &ImageVolume{ImageID: layer.ImageID, Source: source}, nil
}

// RemoveImageVolume unmounts and deletes image volume n of container
// owner. Removing a volume that was never made, or only partly, succeeds.
func (s *Store) RemoveImageVolume(ctx context.Context, owner string, n int) error {
	id := imageVolumeID(owner, n)
	if err := s.Unmount(ctx, id); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	return s.RemoveContainerLayer(ctx, id)
}

package image

import (
	"context"
	"errors"
	"fmt"

	"go.podman.io/storage"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// RemoveContainerLayersLater unmounts the writable layer of container owner
// and its image volumes numbered volumes, then deletes them in the
// background. It returns once they are out of the mount namespace, or with
// an error and nothing handed off. The caller must have ended every
// process that could use them.
//
// Before it returns only the kernel's mounts go, detached while a
// descriptor keeps their file systems up. The rest happens in the
// background: the kernel's shutdown of the file systems once the
// descriptors close, which for overlay syncs the whole file system the
// layers are on; storage's record of the unmount, which go.podman.io/storage
// takes for an unmount done outside it, as for CRI-O's conmon; and the
// deletion, which rewrites storage's metadata files, each synced, and
// removes the layers' directories. That is most of the cost of removing a
// container, and nothing a removed container needs to wait for.
//
// Should the daemon die first, the layers are left either with the
// caller's record of the container, and removing the container again
// deletes them, or without, and ReclaimContainerLayers at the next start
// deletes them. Meanwhile the store answers as if they were gone: Remove,
// ContainerLayers and ReclaimContainerLayers wait for pending deletions,
// so that no image is refused for a layer on its way out, and Close waits
// for them too. A deletion that fails is logged and left to the next
// start.
func (s *Store) RemoveContainerLayersLater(ctx context.Context, owner string, volumes []int) error {
	s.usage.forgetWritable(owner)
	ids := []string{owner}
	for _, n := range volumes {
		ids = append(ids, imageVolumeID(owner, n))
	}
	var pins []int
	unpin := func() {
		for _, fd := range pins {
			unix.Close(fd)
		}
	}
	for _, id := range ids {
		pin, err := s.detach(id)
		if pin >= 0 {
			pins = append(pins, pin)
		}
		if err != nil {
			unpin()
			return err
		}
	}
	started := s.removals.Go(func() {
		// The last references to the mounts go: the kernel shuts their
		// file systems down.
		unpin()
		ctx := context.Background()
		for _, id := range ids {
			if err := s.RemoveContainerLayer(ctx, id); err != nil {
				klog.ErrorS(err, "Removing a layer of a removed container; the next start retries", "container", owner, "layer", id)
			}
		}
	})
	if !started {
		unpin()
		klog.InfoS("Image storage is closing: the writable layer of a removed container is left to the next start", "container", owner)
	}
	return nil
}

// detach takes the mount of container layer id out of the mount namespace
// and returns a descriptor of its root that keeps its file system up, or
// -1 when the layer is missing or not mounted. Storage still counts the
// layer mounted: RemoveContainerLayer, Unmount or ReclaimContainerLayers
// records the unmount.
func (s *Store) detach(id string) (int, error) {
	l, err := s.store.Layer(containerLayerID(id))
	if errors.Is(err, storage.ErrLayerUnknown) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("unmount container layer %s: %w", id, err)
	}
	if l.MountPoint == "" || l.MountCount == 0 {
		return -1, nil
	}
	pin, err := unix.Open(l.MountPoint, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		// Unpinned, the unmount waits for the file system's shutdown.
		pin = -1
	}
	// EINVAL: not a mount point (vfs), or unmounted already.
	if err := unix.Unmount(l.MountPoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		if pin >= 0 {
			unix.Close(pin)
		}
		return -1, fmt.Errorf("unmount container layer %s: %w", id, err)
	}
	return pin, nil
}

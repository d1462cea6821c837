// Package image owns crisp's images and container filesystems: the layer
// storage under <root>/storage (go.podman.io/storage, overlay or vfs), the
// image queries the CRI ImageService answers, pulls (one download per
// reference and credentials, removal of a failed pull's layers), and the
// writable layers containers run on. Copying images in, from registries or
// archives, is pkg/image/transfer's: a Store copies through the Copier it is
// given.
package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.podman.io/storage"
	storagetypes "go.podman.io/storage/types"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/pending"
)

// Store is the image and container-layer storage. It is safe for concurrent
// use, and other processes (the offline CLI) may use the same storage at the
// same time: go.podman.io/storage locks it on disk.
type Store struct {
	store   storage.Store
	opts    Options
	driver  string
	tmpDir  string
	pulls   *pullGroup
	cleanup layerJanitor
	claims  layerClaims
	meta    metaCache
	usage   usageCache
	// removals are the container layers being deleted in the background.
	removals pending.Work
}

// Open opens (creating if needed) the storage described by opts.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if !filepath.IsAbs(opts.Root) || !filepath.IsAbs(opts.RunRoot) {
		return nil, fmt.Errorf("image storage: root %q and run root %q must be absolute: %w", opts.Root, opts.RunRoot, errdefs.ErrInvalidArgument)
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	opts.Pinned = normalizePins(opts.Pinned)
	driver, err := chooseDriver(opts.Root, opts.Driver)
	if err != nil {
		return nil, err
	}
	st, err := openStorage(opts, driver)
	if driver == DriverOverlay && isDriverUnsupported(err) {
		klog.InfoS("WARNING: overlay storage cannot be used here; falling back to vfs, which copies every layer in full",
			"root", opts.Root, "err", err)
		driver = DriverVFS
		st, err = openStorage(opts, driver)
	}
	if err != nil {
		return nil, fmt.Errorf("open image storage %s (%s): %w", opts.Root, driver, err)
	}
	s := &Store{store: st, opts: opts, driver: driver, tmpDir: filepath.Join(opts.Root, "tmp"), pulls: newPullGroup()}
	s.cleanup.store = st
	s.claims.dir = filepath.Join(opts.Root, "crisp-container-layers")
	if err := os.MkdirAll(s.tmpDir, 0o700); err != nil {
		s.Close()
		return nil, fmt.Errorf("create %s: %w", s.tmpDir, err)
	}
	klog.V(2).InfoS("Opened image storage", "root", opts.Root, "driver", driver)
	return s, nil
}

// openStorage opens go.podman.io/storage on driver.
func openStorage(opts Options, driver string) (storage.Store, error) {
	var driverOpts []string
	if driver == DriverOverlay {
		// Never turn the storage root into a private bind mount: a second
		// process (the CLI) shutting the store down would lazily detach it
		// together with the root filesystems of running containers.
		driverOpts = append(driverOpts, "overlay.skip_mount_home=true")
	}
	return storage.GetStore(storagetypes.StoreOptions{
		GraphRoot:          opts.Root,
		RunRoot:            opts.RunRoot,
		GraphDriverName:    driver,
		GraphDriverOptions: driverOpts,
	})
}

// Driver returns the storage driver in use.
func (s *Store) Driver() string { return s.driver }

// Root returns the storage root directory.
func (s *Store) Root() string { return s.opts.Root }

// Close cancels running pulls and releases the storage. Mounted container layers stay mounted, so
// running containers keep their root filesystems across a daemon restart.
func (s *Store) Close() error {
	s.pulls.shutdown()
	s.removals.Close()
	mounted, err := s.store.Shutdown(false)
	if errors.Is(err, storage.ErrLayerUsedByContainer) {
		klog.V(2).InfoS("Image storage closed with container layers still mounted", "layers", len(mounted))
		return nil
	}
	if err != nil {
		return fmt.Errorf("close image storage %s: %w", s.opts.Root, err)
	}
	return nil
}

// CloseUnmountingAll releases the storage after unmounting every container
// layer, for tests and for tearing a node down: no mount outlives it.
func (s *Store) CloseUnmountingAll() error {
	s.pulls.shutdown()
	s.removals.Close()
	if _, err := s.store.Shutdown(true); err != nil {
		return fmt.Errorf("close image storage %s: %w", s.opts.Root, err)
	}
	return nil
}

package image

import (
	"context"
	"fmt"
	"runtime/debug"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/storage"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// A Puller copies an image from its registry into a Store and returns the
// stored image's ID. pkg/image/transfer pulls in the calling process.
type Puller interface {
	Pull(ctx context.Context, s *Store, named reference.Named, auth *Auth) (id string, err error)
}

// errNoPuller refuses pulls on a Store opened without a Puller.
var errNoPuller = fmt.Errorf("pulling images is not built into this store: %w", errdefs.ErrNotImplemented)

// Pull fetches ref from its registry into the store and returns the image.
// ref is normalised like Docker's ("busybox" is
// docker.io/library/busybox:latest); a manifest list or OCI index resolves to
// the host's platform. Concurrent pulls of one reference with the same
// credentials share one download. A failed pull stores nothing.
func (s *Store) Pull(ctx context.Context, ref string, auth *Auth) (*Image, error) {
	named, err := pullReference(ref)
	if err != nil {
		return nil, err
	}
	if s.opts.Puller == nil {
		return nil, fmt.Errorf("pull %s: %w", named, errNoPuller)
	}
	key := named.String() + "\x00" + auth.fingerprint()
	id, err := s.pulls.do(ctx, key, func(ctx context.Context) (id string, err error) {
		if s.opts.PullTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.opts.PullTimeout)
			defer cancel()
		}
		end := s.BeginTransfer()
		defer func() { end(err != nil) }()
		return s.opts.Puller.Pull(ctx, s, named, auth)
	})
	if err != nil {
		return nil, err
	}
	img, err := s.store.Image(id)
	if err != nil {
		return nil, fmt.Errorf("pull %s: image %s: %w", named, id, err)
	}
	return s.describe(ctx, img)
}

// BeginTransfer registers a pull or load that is about to store layers and
// returns the function that ends it. The layers of a failed one are
// removed once no other is running, since a running one's layers belong to
// no image yet either.
func (s *Store) BeginTransfer() (end func(failed bool)) { return s.cleanup.begin() }

// Storage returns the go.podman.io/storage store images are copied into,
// for pkg/image/transfer.
func (s *Store) Storage() storage.Store { return s.store }

// Options returns the options the store was opened with.
func (s *Store) Options() Options { return s.opts }

// TempDir returns the directory for the big temporary files of pulls and
// loads, on the storage's filesystem.
func (s *Store) TempDir() string { return s.tmpDir }

// releasePullMemory hands the memory of the pulls that just ended back to
// the system. A pull grows the heap for a few seconds (manifests, layer
// decompression and verification, TLS), and Go's scavenger returns memory
// that is no longer used over minutes, so a node that pulls now and then
// would carry a pull's high-water mark while it idles. One collection per
// burst of pulls (a few milliseconds of CPU, after the callers have their
// answer) gives it back at once.
func releasePullMemory() { debug.FreeOSMemory() }

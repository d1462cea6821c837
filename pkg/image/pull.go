package image

import (
	"context"
	"fmt"
	"time"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/storage"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// A Copier copies images into a Store: pkg/image/transfer's in the calling
// process, Helper's in crisp-image. The Store around it shares downloads,
// bounds pulls in time and removes what a failed copy left.
type Copier interface {
	// Pull copies named from its registry and returns the stored image's ID
	// and the bytes of blobs it downloaded (those it could count).
	Pull(ctx context.Context, s *Store, named reference.Named, auth *Auth) (id string, downloaded uint64, err error)
	// Load copies every image of the archive at file and returns their IDs.
	Load(ctx context.Context, s *Store, file string) (ids []string, err error)
}

// errNoCopier refuses pulls and loads on a Store opened without a Copier.
var errNoCopier = fmt.Errorf("copying images in is not built into this store: %w", errdefs.ErrNotImplemented)

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
	if s.opts.Copier == nil {
		return nil, fmt.Errorf("pull %s: %w", named, errNoCopier)
	}
	key := named.String() + "\x00" + auth.fingerprint()
	id, err := s.pulls.do(ctx, key, func(ctx context.Context) (id string, err error) {
		if s.opts.PullTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.opts.PullTimeout)
			defer cancel()
		}
		end := s.beginTransfer()
		defer func() { end(err != nil) }()
		start := time.Now()
		id, downloaded, err := s.opts.Copier.Pull(ctx, s, named, auth)
		if o := s.opts.Observer; o != nil {
			o.ObservePull(downloaded, time.Since(start), err)
		}
		return id, err
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

// Load stores every image of the archive at file: a docker-archive (as
// `docker save` writes it) or an oci-archive, compressed or not. Images keep
// the names the archive gives them; an image without one is stored by ID.
// An archive that fails to load stores nothing.
func (s *Store) Load(ctx context.Context, file string) (_ []*Image, err error) {
	if s.opts.Copier == nil {
		return nil, fmt.Errorf("load %s: %w", file, errNoCopier)
	}
	end := s.beginTransfer()
	defer func() { end(err != nil) }()
	ids, err := s.opts.Copier.Load(ctx, s, file)
	if err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(ids))
	for _, id := range ids {
		img, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// beginTransfer registers a pull or load that is about to store layers and
// returns the function that ends it. The layers of a failed one are
// removed once no other is running, since a running one's layers belong to
// no image yet either.
func (s *Store) beginTransfer() (end func(failed bool)) { return s.cleanup.begin() }

// Storage returns the go.podman.io/storage store images are copied into,
// for pkg/image/transfer.
func (s *Store) Storage() storage.Store { return s.store }

// Options returns the options the store was opened with.
func (s *Store) Options() Options { return s.opts }

// TempDir returns the directory for the big temporary files of pulls and
// loads, on the storage's filesystem.
func (s *Store) TempDir() string { return s.tmpDir }

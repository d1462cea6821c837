package image

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/storage"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Image is a stored image as the CRI ImageService reports it.
type Image struct {
	// ID is the image ID: the hex digest of its config, without "sha256:".
	ID string
	// RepoTags are its tagged names ("docker.io/library/busybox:latest").
	RepoTags []string
	// RepoDigests are its names by manifest digest ("repo@sha256:…").
	RepoDigests []string
	// Size is the size of its unpacked layers in bytes.
	Size uint64
	// UID is the numeric user the image runs as by default, or nil when the
	// config names a user (Username) or none.
	UID *int64
	// Username is the user name the image runs as by default, if the config
	// names one.
	Username string
	// Pinned images are never garbage collected by kubelet.
	Pinned bool
	// Config is the image's OCI configuration.
	Config *imgspecv1.Image
	// TopLayer is the storage layer a container layer is created on.
	TopLayer string
	// Annotations are its OCI manifest's annotations (none for other
	// manifest types).
	Annotations map[string]string
}

// imageMeta is what a stored image's ID fixes: it never changes, so it is
// read from disk once.
type imageMeta struct {
	size        uint64
	config      *imgspecv1.Image
	annotations map[string]string
}

// metaCache caches imageMeta by image ID.
type metaCache struct {
	mu   sync.Mutex
	byID map[string]*imageMeta
}

func (c *metaCache) get(id string) *imageMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

func (c *metaCache) put(id string, m *imageMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = make(map[string]*imageMeta)
	}
	c.byID[id] = m
}

// retain drops the entries of images that are gone.
func (c *metaCache) retain(ids map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.byID {
		if !ids[id] {
			delete(c.byID, id)
		}
	}
}

// Get returns the image that ref names: an image ID or unique ID prefix
// (with or without "sha256:"), a reference by tag ("busybox" means
// docker.io/library/busybox:latest) or a reference by digest. An unknown image
// is errdefs.ErrNotFound; a malformed reference errdefs.ErrInvalidArgument.
func (s *Store) Get(ctx context.Context, ref string) (*Image, error) {
	img, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	return s.describe(ctx, img)
}

// List returns every stored image, or when filter is not empty only the
// image it names (none if it names no image).
func (s *Store) List(ctx context.Context, filter string) ([]*Image, error) {
	if filter != "" {
		img, err := s.Get(ctx, filter)
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []*Image{img}, nil
	}
	imgs, err := s.store.Images()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]*Image, 0, len(imgs))
	ids := make(map[string]bool, len(imgs))
	for i := range imgs {
		ids[imgs[i].ID] = true
		d, err := s.describe(ctx, &imgs[i])
		if errors.Is(err, storage.ErrImageUnknown) || errors.Is(err, storage.ErrLayerUnknown) {
			continue // removed while listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	s.meta.retain(ids)
	return out, nil
}

// resolve finds the stored image ref names.
func (s *Store) resolve(ref string) (*storage.Image, error) {
	if ref == "" {
		return nil, fmt.Errorf("image reference is empty: %w", errdefs.ErrInvalidArgument)
	}
	if id, ok := looksLikeID(ref); ok {
		img, err := s.store.Image(id)
		if err == nil && strings.HasPrefix(img.ID, id) {
			return img, nil
		}
		if len(id) == 64 {
			// A full digest may also be a manifest digest; it is never a name.
			if imgs, err := s.store.ImagesByDigest(digest.Digest("sha256:" + id)); err == nil && len(imgs) > 0 {
				return imgs[0], nil
			}
			return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
		}
	}
	named, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	sref, err := istorage.Transport.NewStoreReference(s.store, named, "")
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	img, err := istorage.Transport.GetStoreImage(s.store, sref)
	if errors.Is(err, storage.ErrImageUnknown) {
		return nil, fmt.Errorf("image %q: %w", named.String(), errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up image %q: %w", named.String(), err)
	}
	return img, nil
}

// describe turns a stored image into an Image.
func (s *Store) describe(ctx context.Context, img *storage.Image) (*Image, error) {
	meta, err := s.imageMeta(ctx, img.ID)
	if err != nil {
		return nil, err
	}
	out := &Image{
		ID:          img.ID,
		Size:        meta.size,
		Config:      meta.config,
		TopLayer:    img.TopLayer,
		Annotations: maps.Clone(meta.annotations),
	}
	out.RepoTags, out.RepoDigests = repoNames(img)
	out.Pinned = matchesPinned(s.opts.Pinned, img.Names)
	out.UID, out.Username = imageUser(meta.config.Config.User)
	return out, nil
}

// imageMeta returns the cached size and config of image id.
func (s *Store) imageMeta(ctx context.Context, id string) (*imageMeta, error) {
	if m := s.meta.get(id); m != nil {
		return m, nil
	}
	size, err := s.store.ImageSize(id)
	if err != nil {
		return nil, fmt.Errorf("image %s size: %w", id, err)
	}
	sref, err := istorage.Transport.NewStoreReference(s.store, nil, id)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	src, err := sref.NewImage(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", id, err)
	}
	defer src.Close()
	config, err := src.OCIConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", id, err)
	}
	m := &imageMeta{size: uint64(max(size, 0)), config: config}
	if raw, mt, err := src.Manifest(ctx); err == nil && mt == imgspecv1.MediaTypeImageManifest {
		if oci, err := manifest.OCI1FromManifest(raw); err == nil {
			m.annotations = oci.Annotations
		}
	}
	s.meta.put(id, m)
	return m, nil
}

// repoNames splits an image's names into tags and digests. Every repository
// it is tagged in is reported with each of its manifest digests, so that a
// pull by tag can later be addressed by digest.
func repoNames(img *storage.Image) (tags, digests []string) {
	var repos []reference.Named
	for _, name := range img.Names {
		named, err := reference.ParseNormalizedNamed(name)
		if err != nil {
			continue
		}
		if c, ok := named.(reference.Canonical); ok {
			digests = append(digests, c.String())
			repos = append(repos, reference.TrimNamed(named))
			continue
		}
		if t, ok := named.(reference.NamedTagged); ok {
			tags = append(tags, t.String())
			repos = append(repos, reference.TrimNamed(named))
		}
	}
	for _, repo := range repos {
		for _, d := range img.Digests {
			if c, err := reference.WithDigest(repo, d); err == nil {
				digests = append(digests, c.String())
			}
		}
	}
	slices.Sort(digests)
	return tags, slices.Compact(digests)
}

// imageUser interprets the config's User ("uid", "uid:gid", "name",
// "name:group") as CRI reports it: a numeric uid or a user name.
func imageUser(user string) (*int64, string) {
	name, _, _ := strings.Cut(user, ":")
	if name == "" {
		return nil, ""
	}
	if uid, err := strconv.ParseInt(name, 10, 64); err == nil && uid >= 0 {
		return &uid, ""
	}
	return nil, name
}

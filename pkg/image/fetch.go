package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
)

// maxParallelDownloads bounds the layers of one pull downloaded at once.
// Layers are applied in order, so more parallelism mostly delays the first.
const maxParallelDownloads = 3

// errDigestMismatch is content that does not hash to the digest naming it.
var errDigestMismatch = errors.New("content does not match its digest")

// errNeedsCopy sends an image the layer fetcher does not handle (schema 1
// manifests, foreign or encrypted layers) to go.podman.io/image's copy.
var errNeedsCopy = errors.New("image needs the generic copy")

// remoteImage is the platform image of a pull, resolved and checked against
// the signature policy, with its manifest and config verified.
type remoteImage struct {
	src            types.ImageSource
	manifest       []byte
	manifestDigest digest.Digest
	list           []byte // the manifest list or index it was chosen from, if any
	listDigest     digest.Digest
	config         []byte
	configDigest   digest.Digest
	oci            *imgspecv1.Image
	layers         []types.BlobInfo
}

// fetch pulls named into storage: it downloads the layers a few at a time,
// verifying each against its digest, and applies each as soon as it and the
// layers below it are there, decompressing it once. It returns the image ID,
// or errNeedsCopy for images it leaves to go.podman.io/image's copy.
func (s *Store) fetch(ctx context.Context, named reference.Named, sys *types.SystemContext, progress *pullProgress) (string, error) {
	ref, err := docker.NewReference(named)
	if err != nil {
		return "", err
	}
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return "", err
	}
	defer src.Close()
	img, err := s.resolveRemote(ctx, src, sys)
	if err != nil {
		return "", err
	}
	id := img.configDigest.Encoded()
	top, err := s.fetchLayers(ctx, img, progress)
	if err != nil {
		return "", err
	}
	if err := s.commitImage(id, named, top, img); err != nil {
		return "", err
	}
	return id, nil
}

// resolveRemote picks the host platform's image, checks the policy for the
// reference and the instance, and reads the verified manifest and config.
func (s *Store) resolveRemote(ctx context.Context, src types.ImageSource, sys *types.SystemContext) (*remoteImage, error) {
	policy, err := s.policyContext()
	if err != nil {
		return nil, err
	}
	defer policy.Destroy()
	out := &remoteImage{src: src}
	unparsed := image.UnparsedInstance(src, nil)
	if err := checkPolicy(ctx, policy, unparsed); err != nil {
		return nil, err
	}
	top, topType, err := unparsed.Manifest(ctx)
	if err != nil {
		return nil, err
	}
	if manifest.MIMETypeIsMultiImage(topType) {
		list, err := manifest.ListFromBlob(top, topType)
		if err != nil {
			return nil, fmt.Errorf("parse manifest list: %w", err)
		}
		instance, err := list.ChooseInstance(sys)
		if err != nil {
			return nil, err
		}
		out.list = top
		if out.listDigest, err = manifest.Digest(top); err != nil {
			return nil, err
		}
		unparsed = image.UnparsedInstance(src, &instance)
		if err := checkPolicy(ctx, policy, unparsed); err != nil {
			return nil, err
		}
	}
	parsed, err := image.FromUnparsedImage(ctx, sys, unparsed)
	if err != nil {
		return nil, err
	}
	var mimeType string
	if out.manifest, mimeType, err = parsed.Manifest(ctx); err != nil {
		return nil, err
	}
	if mimeType == manifest.DockerV2Schema1MediaType || mimeType == manifest.DockerV2Schema1SignedMediaType {
		return nil, errNeedsCopy
	}
	if out.manifestDigest, err = manifest.Digest(out.manifest); err != nil {
		return nil, err
	}
	out.configDigest = parsed.ConfigInfo().Digest
	if out.config, err = parsed.ConfigBlob(ctx); err != nil { // verified against its digest
		return nil, err
	}
	if out.oci, err = parsed.OCIConfig(ctx); err != nil {
		return nil, err
	}
	out.layers = parsed.LayerInfos()
	if len(out.layers) != len(out.oci.RootFS.DiffIDs) {
		return nil, errNeedsCopy
	}
	for _, l := range out.layers {
		if len(l.URLs) > 0 || l.CryptoOperation != types.PreserveOriginalCrypto || strings.Contains(l.MediaType, "encrypted") {
			return nil, errNeedsCopy
		}
	}
	return out, nil
}

// checkPolicy fails unless the signature policy accepts the image.
func checkPolicy(ctx context.Context, policy *signature.PolicyContext, img types.UnparsedImage) error {
	allowed, err := policy.IsRunningImageAllowed(ctx, img)
	if err != nil {
		return fmt.Errorf("rejected by the signature policy: %w", err)
	}
	if !allowed {
		return errors.New("rejected by the signature policy")
	}
	return nil
}

// layerIDs returns the storage IDs of an image's layers: chain IDs from the
// diff IDs, as go.podman.io/image computes them, so layers are shared with
// images it stored.
func layerIDs(diffIDs []digest.Digest) []string {
	ids := make([]string, len(diffIDs))
	parent := ""
	for i, d := range diffIDs {
		if parent == "" {
			ids[i] = d.Encoded()
		} else {
			ids[i] = digest.Canonical.FromString(parent + "+" + d.Encoded()).Encoded()
		}
		parent = ids[i]
	}
	return ids
}

// download is one layer blob: prefetched into a temporary file, or claimed
// by the applier, which streams it straight into storage.
type download struct {
	claimed atomic.Bool
	done    chan struct{}
	path    string
	err     error
}

// fetchLayers stores the image's layers and returns the top one. The next
// layer to apply streams from the registry into storage; the few after it
// are prefetched into temporary files meanwhile.
func (s *Store) fetchLayers(ctx context.Context, img *remoteImage, progress *pullProgress) (string, error) {
	ids := layerIDs(img.oci.RootFS.DiffIDs)
	// A stored layer implies its parents: skip everything below the highest.
	first := 0
	for i := len(ids) - 1; i >= 0; i-- {
		if _, err := s.store.Layer(ids[i]); err == nil {
			first = i + 1
			break
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	downloads := make([]*download, len(ids))
	for i := first; i < len(ids); i++ {
		downloads[i] = &download{done: make(chan struct{})}
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		for _, d := range downloads {
			if d != nil && d.path != "" {
				os.Remove(d.path)
			}
		}
	}()
	// The prefetcher starts downloads in layer order, skipping layers the
	// applier has claimed; one slot stays with the applier's stream.
	wg.Go(func() {
		slots := make(chan struct{}, maxParallelDownloads-1)
		for i := first + 1; i < len(ids); i++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			d := downloads[i]
			if !d.claimed.CompareAndSwap(false, true) {
				<-slots
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				d.path, d.err = s.downloadBlob(ctx, img.src, img.layers[i], progress)
				close(d.done)
			})
		}
	})

	parent := ""
	if first > 0 {
		parent = ids[first-1]
	}
	for i := first; i < len(ids); i++ {
		info, diffID, d := img.layers[i], img.oci.RootFS.DiffIDs[i], downloads[i]
		var err error
		if d.claimed.CompareAndSwap(false, true) {
			err = s.streamLayer(ctx, img.src, ids[i], parent, info, diffID, progress)
		} else {
			select {
			case <-d.done:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if d.err != nil {
				return "", d.err
			}
			err = s.applyFile(ids[i], parent, info, diffID, d.path)
			os.Remove(d.path)
			d.path = ""
		}
		if err != nil {
			return "", err
		}
		parent = ids[i]
	}
	return parent, nil
}

// downloadBlob fetches one blob into a temporary file, verifying its digest
// and size, and returns the file's path.
func (s *Store) downloadBlob(ctx context.Context, src types.ImageSource, info types.BlobInfo, progress *pullProgress) (_ string, err error) {
	body, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return "", fmt.Errorf("fetch layer %s: %w", info.Digest, err)
	}
	defer body.Close()
	f, err := os.CreateTemp(s.tmpDir, "layer-")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	v := newBlobVerifier(ctx, body, info, progress)
	if _, err := io.Copy(f, v); err != nil {
		return "", fmt.Errorf("fetch layer %s: %w", info.Digest, err)
	}
	if err := v.verify(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// streamLayer fetches one layer straight into storage, then verifies the
// digest of what it read; a layer that fails is deleted again.
func (s *Store) streamLayer(ctx context.Context, src types.ImageSource, id, parent string, info types.BlobInfo, diffID digest.Digest, progress *pullProgress) error {
	body, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", info.Digest, err)
	}
	defer body.Close()
	v := newBlobVerifier(ctx, body, info, progress)
	return s.putLayer(id, parent, info, diffID, v, func() error {
		// Storage may stop reading at the end of the tar stream.
		if _, err := io.Copy(io.Discard, v); err != nil {
			return fmt.Errorf("fetch layer %s: %w", info.Digest, err)
		}
		return v.verify()
	})
}

// applyFile stores a downloaded, verified layer.
func (s *Store) applyFile(id, parent string, info types.BlobInfo, diffID digest.Digest, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.putLayer(id, parent, info, diffID, f, func() error { return nil })
}

// putLayer stores the layer blob r as layer id on parent, runs verify once
// storage has read it, and checks its uncompressed content against the
// config's diff ID. A layer that fails either check is deleted again.
func (s *Store) putLayer(id, parent string, info types.BlobInfo, diffID digest.Digest, r io.Reader, verify func() error) error {
	size := info.Size
	layer, _, err := s.store.PutLayer(id, parent, nil, "", false, &storage.LayerOptions{
		OriginalDigest: info.Digest, // verified by verify
		OriginalSize:   &size,
	}, r)
	if errors.Is(err, storage.ErrDuplicateID) {
		return nil // a concurrent pull stored the same layer
	}
	if err != nil {
		if verr := verify(); verr != nil {
			return verr // corrupt content is why storage failed
		}
		return fmt.Errorf("apply layer %s: %w", info.Digest, err)
	}
	if err := verify(); err != nil {
		s.store.DeleteLayer(id)
		return err
	}
	if layer.UncompressedDigest != diffID {
		s.store.DeleteLayer(id)
		return fmt.Errorf("layer %s: uncompressed %s, config says %s: %w", info.Digest, layer.UncompressedDigest, diffID, errDigestMismatch)
	}
	return nil
}

// blobVerifier reads a blob, hashing and counting it and reporting
// progress; verify checks it once it is read in full.
type blobVerifier struct {
	ctx      context.Context
	r        io.Reader
	info     types.BlobInfo
	digester digest.Verifier
	progress *pullProgress
	n        int64
}

func newBlobVerifier(ctx context.Context, r io.Reader, info types.BlobInfo, progress *pullProgress) *blobVerifier {
	progress.start(info.Digest, info.Size)
	return &blobVerifier{ctx: ctx, r: r, info: info, digester: info.Digest.Verifier(), progress: progress}
}

// Read stops once ctx is done, so a cancelled pull does not finish a
// download it no longer needs.
func (v *blobVerifier) Read(b []byte) (int, error) {
	if err := v.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := v.r.Read(b)
	if n > 0 {
		v.digester.Write(b[:n])
		v.n += int64(n)
		v.progress.advance(v.info.Digest, uint64(n))
	}
	return n, err
}

func (v *blobVerifier) verify() error {
	if v.info.Size >= 0 && v.n != v.info.Size {
		return fmt.Errorf("layer %s: got %d bytes, want %d: %w", v.info.Digest, v.n, v.info.Size, errDigestMismatch)
	}
	if !v.digester.Verified() {
		return fmt.Errorf("layer %s: %w", v.info.Digest, errDigestMismatch)
	}
	return nil
}

// commitImage records the image on its top layer with its manifests and
// config, the way go.podman.io/image stores them, and names it.
func (s *Store) commitImage(id string, named reference.Named, top string, img *remoteImage) error {
	bigData := []storage.ImageBigDataOption{
		{Key: img.configDigest.String(), Data: img.config, Digest: digest.Canonical.FromBytes(img.config)},
		{Key: storage.ImageDigestManifestBigDataNamePrefix + "-" + img.manifestDigest.String(), Data: img.manifest, Digest: img.manifestDigest},
		{Key: storage.ImageDigestBigDataKey, Data: img.manifest, Digest: img.manifestDigest},
	}
	if img.list != nil {
		bigData = append(bigData, storage.ImageBigDataOption{
			Key: storage.ImageDigestManifestBigDataNamePrefix + "-" + img.listDigest.String(), Data: img.list, Digest: img.listDigest,
		})
	}
	opts := &storage.ImageOptions{BigData: bigData}
	if img.oci.Created != nil {
		opts.CreationDate = *img.oci.Created
	}
	_, err := s.store.CreateImage(id, nil, top, "", opts)
	if errors.Is(err, storage.ErrDuplicateID) {
		existing, err := s.store.Image(id)
		if err != nil {
			return err
		}
		if existing.TopLayer != top {
			return fmt.Errorf("image %s exists on another top layer: %w", id, storage.ErrDuplicateID)
		}
		for _, d := range bigData {
			if err := s.store.SetImageBigData(id, d.Key, d.Data, manifest.Digest); err != nil {
				return fmt.Errorf("image %s: %w", id, err)
			}
		}
	} else if err != nil {
		return fmt.Errorf("create image %s: %w", id, err)
	}
	if err := s.store.AddNames(id, []string{named.String()}); err != nil {
		return fmt.Errorf("name image %s %s: %w", id, named, err)
	}
	return nil
}

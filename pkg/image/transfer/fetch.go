package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	cimage "go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
)

// maxParallelDownloads bounds the layers of one pull downloaded at once.
// Layers are committed lowest first, so more parallelism would mostly delay
// the layer the others wait for.
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

// fetch pulls named into storage: go.podman.io/image resolves and verifies
// the manifest and config, then fetchLayers downloads and unpacks the
// missing layers in one pass each, and commitImage records the image. It
// returns the image ID, or errNeedsCopy for images it leaves to
// go.podman.io/image's copy.
func (s *copier) fetch(ctx context.Context, named reference.Named, sys *types.SystemContext, progress *pullProgress) (string, error) {
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
func (s *copier) resolveRemote(ctx context.Context, src types.ImageSource, sys *types.SystemContext) (*remoteImage, error) {
	policy, err := s.policyContext()
	if err != nil {
		return nil, err
	}
	defer policy.Destroy()
	out := &remoteImage{src: src}
	unparsed := cimage.UnparsedInstance(src, nil)
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
		unparsed = cimage.UnparsedInstance(src, &instance)
		if err := checkPolicy(ctx, policy, unparsed); err != nil {
			return nil, err
		}
	}
	parsed, err := cimage.FromUnparsedImage(ctx, sys, unparsed)
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

// commitImage records the image on its top layer with its manifests and
// config, the way go.podman.io/image stores them, and names it.
func (s *copier) commitImage(id string, named reference.Named, top string, img *remoteImage) error {
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

// Package transfer copies images into crisp's image storage: pulls from
// registries and loads docker-archive and oci-archive files, with
// go.podman.io/image's registry client, signature policy and compression
// code. It is the part of image handling a node runs rarely, kept out of
// package image so that what links image alone (the daemon's steady state)
// does not carry it.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/signature"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/version"
)

// acceptAnything is the signature policy when none is configured.
const acceptAnything = `{"default":[{"type":"insecureAcceptAnything"}]}`

// Copier copies images into a Store in this process: the image.Copier of
// crisp-image, the helper the daemon pulls with, and of tests.
type Copier struct{}

// Pull copies named from its registry into the storage of images and
// returns the image ID and the bytes of blobs it downloaded (those it could
// count: the generic copy counts none).
func (Copier) Pull(ctx context.Context, images *image.Store, named reference.Named, auth *image.Auth) (string, uint64, error) {
	return newCopier(images).pull(ctx, named, auth)
}

// Load stores every image of the archive at file in images and returns
// their IDs: a docker-archive (as `docker save` writes it) or an
// oci-archive, compressed or not. Images keep the names the archive gives
// them; an image without one is stored by ID.
func (Copier) Load(ctx context.Context, images *image.Store, file string) ([]string, error) {
	return newCopier(images).load(ctx, file)
}

// copier is one pull or load into images.
type copier struct {
	images *image.Store
	store  storage.Store
	opts   image.Options
	driver string
	tmpDir string
}

func newCopier(images *image.Store) *copier {
	return &copier{
		images: images,
		store:  images.Storage(),
		opts:   images.Options(),
		driver: images.Driver(),
		tmpDir: images.TempDir(),
	}
}

// pull copies named from its registry into storage and returns the image
// ID and the bytes downloaded.
func (s *copier) pull(ctx context.Context, named reference.Named, auth *image.Auth) (string, uint64, error) {
	start := time.Now()
	progress := newPullProgress()
	klog.InfoS("Pulling image", "image", named.String())
	sys := s.systemContext()
	if err := applyAuth(auth, sys); err != nil {
		return "", 0, fmt.Errorf("pull %s: registry %s: %w", named, reference.Domain(named), err)
	}
	stop := make(chan struct{})
	go progress.logEvery(named.String(), s.opts.ProgressInterval, stop)
	id, err := s.fetch(ctx, named, sys, progress)
	close(stop)
	downloaded, _, _ := progress.bytes()
	if errors.Is(err, errNeedsCopy) {
		id, err = s.copyFromRegistry(ctx, named, sys)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return "", downloaded, pullError(named, err)
	}
	klog.InfoS("Pulled image", "image", named.String(), "id", id, "duration", time.Since(start).Round(time.Millisecond))
	return id, downloaded, nil
}

// copyFromRegistry pulls named with go.podman.io/image's generic copy, for
// the images fetch leaves to it.
func (s *copier) copyFromRegistry(ctx context.Context, named reference.Named, sys *types.SystemContext) (string, error) {
	src, err := docker.NewReference(named)
	if err != nil {
		return "", err
	}
	dest, err := istorage.Transport.NewStoreReference(s.store, named, "")
	if err != nil {
		return "", err
	}
	return s.copyImage(ctx, src, dest, sys)
}

// copyImage copies src into the store at dest and returns the stored image ID.
func (s *copier) copyImage(ctx context.Context, src, dest types.ImageReference, sys *types.SystemContext) (string, error) {
	policy, err := s.policyContext()
	if err != nil {
		return "", err
	}
	defer policy.Destroy()

	progress := newPullProgress()
	stop := make(chan struct{})
	defer close(stop)
	go progress.logEvery(transportString(src), s.opts.ProgressInterval, stop)
	events := make(chan types.ProgressProperties)
	observed := make(chan struct{})
	go func() {
		progress.observeAll(events)
		close(observed)
	}()
	var resolved types.ImageReference
	_, err = copy.Image(ctx, policy, dest, src, &copy.Options{
		SourceCtx:               sys,
		DestinationCtx:          sys,
		Progress:                events,
		ProgressInterval:        s.opts.ProgressInterval,
		ReportResolvedReference: &resolved,
	})
	close(events)
	<-observed
	if err != nil {
		return "", err
	}
	if resolved == nil {
		return "", errors.New("storage did not report the stored image")
	}
	img, err := istorage.Transport.GetStoreImage(s.store, resolved)
	if err != nil {
		return "", fmt.Errorf("find stored image: %w", err)
	}
	return img.ID, nil
}

// systemContext returns the go.podman.io/image settings every copy uses.
func (s *copier) systemContext() *types.SystemContext {
	return &types.SystemContext{
		SystemRegistriesConfPath:    registriesConfPath(s.opts.RegistriesConf),
		SystemRegistriesConfDirPath: s.opts.RegistriesConfDir,
		BlobInfoCacheDir:            filepath.Join(s.opts.Root, "cache"),
		BigFilesTemporaryDir:        s.tmpDir,
		DockerRegistryUserAgent:     version.Name + "/" + version.Version(),
		OSChoice:                    "linux",
	}
}

// registriesConfPath returns the registries.conf go.podman.io/image reads for
// the configured path. A file that does not exist means no registry settings
// beyond the drop-in directory, as in podman and CRI-O; go.podman.io/image
// refuses a named file that is missing, so the empty /dev/null stands in for
// it. Checked on every pull, so a file created later applies without a
// restart. Any other error is left for go.podman.io/image to report.
func registriesConfPath(path string) string {
	if path == "" {
		return ""
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return os.DevNull
	}
	return path
}

// policyContext reads the signature policy on every pull, so edits apply
// without a restart. No policy file means accept everything.
func (s *copier) policyContext() (*signature.PolicyContext, error) {
	var policy *signature.Policy
	var err error
	if _, statErr := os.Stat(s.opts.SignaturePolicy); s.opts.SignaturePolicy == "" || errors.Is(statErr, os.ErrNotExist) {
		policy, err = signature.NewPolicyFromBytes([]byte(acceptAnything))
	} else {
		policy, err = signature.NewPolicyFromFile(s.opts.SignaturePolicy)
	}
	if err != nil {
		return nil, fmt.Errorf("signature policy %s: %w", s.opts.SignaturePolicy, err)
	}
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		return nil, fmt.Errorf("signature policy %s: %w", s.opts.SignaturePolicy, err)
	}
	return pc, nil
}

func transportString(ref types.ImageReference) string {
	return ref.Transport().Name() + ":" + ref.StringWithinTransport()
}

package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/signature"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/types"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/version"
)

// acceptAnything is the signature policy when none is configured.
const acceptAnything = `{"default":[{"type":"insecureAcceptAnything"}]}`

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
	key := named.String() + "\x00" + auth.fingerprint()
	id, err := s.pulls.do(ctx, key, func(ctx context.Context) (string, error) {
		return s.pull(ctx, named, auth)
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

// releasePullMemory hands the memory of the pulls that just ended back to
// the system. A pull grows the heap for a few seconds (manifests, layer
// decompression and verification, TLS), and Go's scavenger returns memory
// that is no longer used over minutes, so a node that pulls now and then
// would carry a pull's high-water mark while it idles. One collection per
// burst of pulls (a few milliseconds of CPU, after the callers have their
// answer) gives it back at once.
func releasePullMemory() { debug.FreeOSMemory() }

// pull copies named from its registry into storage and returns the image ID.
func (s *Store) pull(ctx context.Context, named reference.Named, auth *Auth) (id string, err error) {
	if s.opts.PullTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.PullTimeout)
		defer cancel()
	}
	end := s.cleanup.begin()
	defer func() { end(err != nil) }()

	start := time.Now()
	progress := newPullProgress()
	if o := s.opts.Observer; o != nil {
		defer func() {
			done, _, _ := progress.bytes()
			o.ObservePull(done, time.Since(start), err)
		}()
	}
	klog.InfoS("Pulling image", "image", named.String())
	sys := s.systemContext()
	if err := auth.apply(sys); err != nil {
		return "", fmt.Errorf("pull %s: registry %s: %w", named, reference.Domain(named), err)
	}
	stop := make(chan struct{})
	go progress.logEvery(named.String(), s.opts.ProgressInterval, stop)
	id, err = s.fetch(ctx, named, sys, progress)
	close(stop)
	if errors.Is(err, errNeedsCopy) {
		id, err = s.copyFromRegistry(ctx, named, sys)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return "", pullError(named, err)
	}
	klog.InfoS("Pulled image", "image", named.String(), "id", id, "duration", time.Since(start).Round(time.Millisecond))
	return id, nil
}

// copyFromRegistry pulls named with go.podman.io/image's generic copy, for
// the images fetch leaves to it.
func (s *Store) copyFromRegistry(ctx context.Context, named reference.Named, sys *types.SystemContext) (string, error) {
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
func (s *Store) copyImage(ctx context.Context, src, dest types.ImageReference, sys *types.SystemContext) (string, error) {
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
func (s *Store) systemContext() *types.SystemContext {
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
func (s *Store) policyContext() (*signature.PolicyContext, error) {
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

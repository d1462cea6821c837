package transfer

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	dockerarchive "go.podman.io/image/v5/docker/archive"
	"go.podman.io/image/v5/docker/reference"
	cimage "go.podman.io/image/v5/image"
	ociarchive "go.podman.io/image/v5/oci/archive"
	"go.podman.io/image/v5/pkg/compression"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/types"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
)

// Archive formats Load understands.
const (
	FormatDockerArchive = "docker-archive"
	FormatOCIArchive    = "oci-archive"
)

// containerdImageName is the annotation containerd and Docker put the full
// image name in; the OCI ref.name annotation usually holds only a tag.
const containerdImageName = "io.containerd.image.name"

// load is Copier.Load.
func (s *copier) load(ctx context.Context, file string) ([]string, error) {
	format, index, err := archiveFormat(file)
	if err != nil {
		return nil, err
	}

	var sources []loadSource
	switch format {
	case FormatDockerArchive:
		reader, err := dockerarchive.NewReader(s.systemContext(), file)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		defer reader.Close()
		if sources, err = dockerSources(reader); err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
	case FormatOCIArchive:
		if sources, err = ociSources(file, index); err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
	}
	var ids []string
	for _, src := range sources {
		id, err := s.loadImage(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("load %s from %s: %w", transportString(src.ref), file, err)
		}
		klog.InfoS("Loaded image", "archive", file, "id", id, "names", src.names)
		ids = append(ids, id)
	}
	return ids, nil
}

// loadSource is one image of an archive and the names to store it under.
type loadSource struct {
	ref   types.ImageReference
	names []reference.Named
}

// loadImage copies one archived image into the store and names it.
func (s *copier) loadImage(ctx context.Context, src loadSource) (string, error) {
	sys := s.systemContext()
	var dest types.ImageReference
	var err error
	if len(src.names) > 0 {
		dest, err = istorage.Transport.NewStoreReference(s.store, src.names[0], "")
	} else {
		dest, err = s.unnamedDestination(ctx, src.ref, sys)
	}
	if err != nil {
		return "", err
	}
	id, err := s.copyImage(ctx, src.ref, dest, sys)
	if err != nil {
		return "", err
	}
	if len(src.names) > 1 {
		names := make([]string, 0, len(src.names)-1)
		for _, n := range src.names[1:] {
			names = append(names, n.String())
		}
		if err := s.store.AddNames(id, names); err != nil {
			return "", fmt.Errorf("name image %s: %w", id, err)
		}
	}
	return id, nil
}

// unnamedDestination is the store reference for an image without a name:
// its ID, the digest of its config.
func (s *copier) unnamedDestination(ctx context.Context, src types.ImageReference, sys *types.SystemContext) (types.ImageReference, error) {
	raw, err := src.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	img, err := cimage.FromUnparsedImage(ctx, sys, cimage.UnparsedInstance(raw, nil))
	if err != nil {
		raw.Close()
		return nil, err
	}
	defer raw.Close()
	return istorage.Transport.NewStoreReference(s.store, nil, img.ConfigInfo().Digest.Encoded())
}

// dockerSources lists the images of a docker-archive with their tags.
func dockerSources(reader *dockerarchive.Reader) ([]loadSource, error) {
	lists, err := reader.List()
	if err != nil {
		return nil, err
	}
	var out []loadSource
	for _, refs := range lists {
		src := loadSource{ref: refs[0]}
		for _, r := range refs {
			if named := r.DockerReference(); named != nil {
				src.names = append(src.names, named)
			}
		}
		out = append(out, src)
	}
	return out, nil
}

// ociSources lists the images of an oci-archive from its index.
func ociSources(file string, index *imgspecv1.Index) ([]loadSource, error) {
	if len(index.Manifests) == 0 {
		return nil, errors.New("index.json lists no image")
	}
	var out []loadSource
	for i, m := range index.Manifests {
		refName := m.Annotations[imgspecv1.AnnotationRefName]
		var names []reference.Named
		for _, n := range []string{m.Annotations[containerdImageName], refName} {
			// A bare tag ("latest") names no repository.
			if !strings.Contains(n, "/") {
				continue
			}
			if named, err := image.ParseReference(n); err == nil {
				names = append(names, named)
				break
			}
		}
		if refName == "" && len(index.Manifests) > 1 {
			return nil, fmt.Errorf("index.json entry %d has no %s annotation to select it by", i, imgspecv1.AnnotationRefName)
		}
		ref, err := ociarchive.NewReference(file, refName)
		if err != nil {
			return nil, err
		}
		out = append(out, loadSource{ref: ref, names: names})
	}
	return out, nil
}

// archiveFormat tells a docker-archive from an oci-archive by their
// metadata files, and returns the OCI index of the latter.
func archiveFormat(file string) (string, *imgspecv1.Index, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	stream, _, err := compression.AutoDecompress(f)
	if err != nil {
		return "", nil, fmt.Errorf("load %s: %w", file, err)
	}
	defer stream.Close()
	tr := tar.NewReader(stream)
	var index *imgspecv1.Index
	var dockerManifest bool
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("load %s: not a tar archive: %v: %w", file, err, errdefs.ErrInvalidArgument)
		}
		switch path.Clean(hdr.Name) {
		case "manifest.json":
			dockerManifest = true
		case "index.json":
			index = &imgspecv1.Index{}
			if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(index); err != nil {
				return "", nil, fmt.Errorf("load %s: index.json: %v: %w", file, err, errdefs.ErrInvalidArgument)
			}
		}
	}
	switch {
	case dockerManifest:
		return FormatDockerArchive, nil, nil
	case index != nil:
		return FormatOCIArchive, index, nil
	}
	return "", nil, fmt.Errorf("load %s: neither a docker-archive (manifest.json) nor an oci-archive (index.json): %w",
		file, errdefs.ErrInvalidArgument)
}

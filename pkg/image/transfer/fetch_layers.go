package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
	drivers "go.podman.io/storage/drivers"

	"github.com/crisp-runtime/crisp/pkg/image"
)

// fetchLayers stores the image's missing layers and returns the top one.
// On overlay, layers are downloaded and unpacked into staging directories a
// few at a time, in parallel, then committed in order; on vfs each layer
// streams into storage in turn.
func (s *copier) fetchLayers(ctx context.Context, img *remoteImage, progress *pullProgress) (string, error) {
	ids := layerIDs(img.oci.RootFS.DiffIDs)
	// A stored layer implies its parents: skip everything below the highest.
	first := 0
	for i := len(ids) - 1; i >= 0; i-- {
		if _, err := s.store.Layer(ids[i]); err == nil {
			first = i + 1
			break
		}
	}
	parent := ""
	if first > 0 {
		parent = ids[first-1]
	}
	if s.driver == image.DriverOverlay {
		return s.stageLayers(ctx, img, ids, first, parent, progress)
	}
	for i := first; i < len(ids); i++ {
		if err := s.streamLayer(ctx, img.src, ids[i], parent, img.layers[i], img.oci.RootFS.DiffIDs[i], progress); err != nil {
			return "", err
		}
		parent = ids[i]
	}
	return parent, nil
}

// stagedLayer is a layer unpacked into a staging directory, not yet
// committed.
type stagedLayer struct {
	done chan struct{}
	out  *drivers.DriverWithDifferOutput
	err  error
}

// stageLayers unpacks layers first.. in parallel and commits them in order
// on parent. Every staging directory is cleaned up at the end, committed or
// not (committing moves the layer out of it).
func (s *copier) stageLayers(ctx context.Context, img *remoteImage, ids []string, first int, parent string, progress *pullProgress) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	staged := make([]*stagedLayer, len(ids))
	for i := first; i < len(ids); i++ {
		staged[i] = &stagedLayer{done: make(chan struct{})}
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		for _, st := range staged {
			if st != nil && st.out != nil {
				s.store.CleanupStagedLayer(st.out)
			}
		}
	}()
	// Start layers in order, a few at a time: the lowest are needed first.
	wg.Go(func() {
		slots := make(chan struct{}, maxParallelDownloads)
		for i := first; i < len(ids); i++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-slots }()
				st := staged[i]
				st.out, st.err = s.stageLayer(ctx, img.src, img.layers[i], img.oci.RootFS.DiffIDs[i], progress)
				close(st.done)
			})
		}
	})
	for i := first; i < len(ids); i++ {
		st := staged[i]
		select {
		case <-st.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if st.err != nil {
			return "", st.err
		}
		if _, err := s.store.Layer(ids[i]); err == nil {
			// A concurrent pull committed the same layer meanwhile.
			parent = ids[i]
			continue
		}
		_, err := s.store.ApplyStagedLayer(storage.ApplyStagedLayerOptions{
			ID:          ids[i],
			ParentLayer: parent,
			DiffOutput:  st.out,
			DiffOptions: &drivers.ApplyDiffWithDifferOpts{},
			LayerOptions: &storage.LayerOptions{
				OriginalDigest:     img.layers[i].Digest,
				UncompressedDigest: img.oci.RootFS.DiffIDs[i],
			},
		})
		if err != nil {
			return "", fmt.Errorf("commit layer %s: %w", img.layers[i].Digest, err)
		}
		parent = ids[i]
	}
	return parent, nil
}

// stageLayer downloads one layer and unpacks it into a staging directory
// as it arrives, then verifies its digest and diff ID.
func (s *copier) stageLayer(ctx context.Context, src types.ImageSource, info types.BlobInfo, diffID digest.Digest, progress *pullProgress) (*drivers.DriverWithDifferOutput, error) {
	body, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return nil, fmt.Errorf("fetch layer %s: %w", info.Digest, err)
	}
	defer body.Close()
	v := newBlobVerifier(ctx, body, info, progress)
	out, err := s.store.PrepareStagedLayer(&drivers.ApplyDiffWithDifferOpts{}, &layerUnpacker{blob: v})
	if err != nil {
		if verr := v.finish(); verr != nil {
			return nil, verr // corrupt content is why unpacking failed
		}
		return nil, fmt.Errorf("unpack layer %s: %w", info.Digest, err)
	}
	if err := v.finish(); err != nil {
		s.store.CleanupStagedLayer(out)
		return nil, err
	}
	if out.UncompressedDigest != diffID {
		s.store.CleanupStagedLayer(out)
		return nil, fmt.Errorf("layer %s: uncompressed %s, config says %s: %w", info.Digest, out.UncompressedDigest, diffID, errDigestMismatch)
	}
	out.CompressedDigest = info.Digest
	return out, nil
}

// streamLayer fetches one layer straight into storage, then verifies the
// digest of what it read; a layer that fails is deleted again.
func (s *copier) streamLayer(ctx context.Context, src types.ImageSource, id, parent string, info types.BlobInfo, diffID digest.Digest, progress *pullProgress) error {
	body, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", info.Digest, err)
	}
	defer body.Close()
	v := newBlobVerifier(ctx, body, info, progress)
	size := info.Size
	layer, _, err := s.store.PutLayer(id, parent, nil, "", false, &storage.LayerOptions{
		OriginalDigest: info.Digest, // verified by finish
		OriginalSize:   &size,
	}, v)
	if errors.Is(err, storage.ErrDuplicateID) {
		return nil // a concurrent pull stored the same layer
	}
	if err != nil {
		if verr := v.finish(); verr != nil {
			return verr
		}
		return fmt.Errorf("apply layer %s: %w", info.Digest, err)
	}
	if err := v.finish(); err != nil {
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
// progress; finish reads what is left and checks it.
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

// finish reads the rest of the blob (storage may stop at the end of the
// tar stream) and checks its size and digest.
func (v *blobVerifier) finish() error {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return fmt.Errorf("fetch layer %s: %w", v.info.Digest, err)
	}
	if v.info.Size >= 0 && v.n != v.info.Size {
		return fmt.Errorf("layer %s: got %d bytes, want %d: %w", v.info.Digest, v.n, v.info.Size, errDigestMismatch)
	}
	if !v.digester.Verified() {
		return fmt.Errorf("layer %s: %w", v.info.Digest, errDigestMismatch)
	}
	return nil
}

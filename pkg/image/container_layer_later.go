package image

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/klog/v2"
)

// layerRemovals tracks the deletions RemoveContainerLayersLater started
// and that have not ended.
type layerRemovals struct {
	mu      sync.Mutex
	closed  bool
	pending map[chan struct{}]struct{}
}

// RemoveContainerLayersLater deletes the writable layer of container owner
// and its image volumes numbered volumes in the background, and returns at
// once. Deleting a layer rewrites storage's metadata files, each synced,
// and removes the layer's directories: most of the cost of removing a
// container, and nothing a removed container needs to wait for.
//
// The caller must have unmounted the layers and deleted its own record of
// the container first: should the daemon die before the deletion ends,
// ReclaimContainerLayers at the next start finds the layers ownerless and
// deletes them. Meanwhile the store answers as if they were gone: Remove,
// ContainerLayers and ReclaimContainerLayers wait for pending deletions,
// so that no image is refused for a layer on its way out, and Close waits
// for them too. A deletion that fails is logged and left to the next
// start.
func (s *Store) RemoveContainerLayersLater(owner string, volumes []int) {
	done, ok := s.removals.begin()
	if !ok {
		klog.InfoS("Image storage is closing: the writable layer of a removed container is left to the next start", "container", owner)
		return
	}
	go func() {
		defer s.removals.end(done)
		ctx := context.Background()
		if err := s.RemoveContainerLayer(ctx, owner); err != nil {
			klog.ErrorS(err, "Removing the writable layer of a removed container; the next start retries", "container", owner)
		}
		for _, n := range volumes {
			if err := s.RemoveContainerLayer(ctx, imageVolumeID(owner, n)); err != nil {
				klog.ErrorS(err, "Removing an image volume of a removed container; the next start retries", "container", owner, "volume", n)
			}
		}
	}()
}

// begin registers a deletion and returns the channel end closes; it
// refuses once the store is closing.
func (r *layerRemovals) begin() (chan struct{}, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false
	}
	if r.pending == nil {
		r.pending = map[chan struct{}]struct{}{}
	}
	done := make(chan struct{})
	r.pending[done] = struct{}{}
	return done, true
}

// end marks the deletion begin returned done as ended.
func (r *layerRemovals) end(done chan struct{}) {
	r.mu.Lock()
	delete(r.pending, done)
	r.mu.Unlock()
	close(done)
}

// wait waits for the deletions pending when it is called.
func (r *layerRemovals) wait(ctx context.Context) error {
	r.mu.Lock()
	chans := make([]chan struct{}, 0, len(r.pending))
	for ch := range r.pending {
		chans = append(chans, ch)
	}
	r.mu.Unlock()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for container layers being removed: %w", ctx.Err())
		}
	}
	return nil
}

// close refuses new deletions and waits for the pending ones.
func (r *layerRemovals) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	_ = r.wait(context.Background())
}

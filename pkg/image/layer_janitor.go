package image

import (
	"sync"
	"time"

	"go.podman.io/storage"
	"k8s.io/klog/v2"
)

// layerJanitor removes the layers a failed pull or load committed before it
// failed: go.podman.io/image stores layers as they arrive, so a pull that
// fails on its third layer leaves the first two behind with no image. The
// removal waits until no pull is running, because a running pull's layers
// belong to no image yet either.
type layerJanitor struct {
	store storage.Store

	mu          sync.Mutex
	running     int
	failedSince time.Time // start of the earliest failed pull not cleaned up
}

// begin registers a pull or load and returns the function that ends it.
func (j *layerJanitor) begin() (end func(failed bool)) {
	start := time.Now()
	j.mu.Lock()
	j.running++
	j.mu.Unlock()
	return func(failed bool) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.running--
		if failed && (j.failedSince.IsZero() || start.Before(j.failedSince)) {
			j.failedSince = start
		}
		if j.running == 0 && !j.failedSince.IsZero() {
			// Holding mu keeps new pulls from starting meanwhile.
			j.removeDangling(j.failedSince)
			j.failedSince = time.Time{}
		}
	}
}

// removeDangling deletes the layers created since then that no image and no
// container uses, children before parents.
func (j *layerJanitor) removeDangling(since time.Time) {
	layers, err := j.store.Layers()
	if err != nil {
		klog.ErrorS(err, "Cannot list layers to remove those of a failed pull")
		return
	}
	used, err := usedLayers(j.store)
	if err != nil {
		klog.ErrorS(err, "Cannot list images to remove the layers of a failed pull")
		return
	}
	// A small margin covers coarse layer timestamps.
	since = since.Add(-time.Second)
	parents := make(map[string]int)
	for _, l := range layers {
		if l.Parent != "" {
			parents[l.Parent]++
		}
	}
	for removed := true; removed; {
		removed = false
		for _, l := range layers {
			if used[l.ID] || parents[l.ID] > 0 || l.Created.Before(since) {
				continue
			}
			if err := j.store.DeleteLayer(l.ID); err != nil {
				klog.ErrorS(err, "Cannot remove a layer of a failed pull", "layer", l.ID)
				used[l.ID] = true // do not retry
				continue
			}
			klog.V(2).InfoS("Removed a layer of a failed pull", "layer", l.ID)
			used[l.ID] = true
			if l.Parent != "" {
				parents[l.Parent]--
			}
			removed = true
		}
	}
}

// usedLayers returns the layers that images and containers stand on.
func usedLayers(st storage.Store) (map[string]bool, error) {
	layers, err := st.Layers()
	if err != nil {
		return nil, err
	}
	parentOf := make(map[string]string, len(layers))
	for _, l := range layers {
		parentOf[l.ID] = l.Parent
	}
	used := make(map[string]bool)
	mark := func(id string) {
		for ; id != "" && !used[id]; id = parentOf[id] {
			used[id] = true
		}
	}
	images, err := st.Images()
	if err != nil {
		return nil, err
	}
	for _, img := range images {
		mark(img.TopLayer)
		for _, l := range img.MappedTopLayers {
			mark(l)
		}
	}
	containers, err := st.Containers()
	if err != nil {
		return nil, err
	}
	for _, c := range containers {
		mark(c.LayerID)
	}
	return used, nil
}

package image

import (
	"time"

	"go.podman.io/image/v5/types"
	"k8s.io/klog/v2"
)

// pullProgress adds up the per-blob progress events of one pull.
type pullProgress struct {
	done  map[string]uint64 // bytes copied per blob digest
	total map[string]int64  // size per blob digest, -1 when unknown
}

func newPullProgress() *pullProgress {
	return &pullProgress{done: make(map[string]uint64), total: make(map[string]int64)}
}

// observe records one event.
func (p *pullProgress) observe(ev types.ProgressProperties) {
	key := ev.Artifact.Digest.String()
	switch ev.Event {
	case types.ProgressEventNewArtifact:
		p.total[key] = ev.Artifact.Size
		p.done[key] = 0
	case types.ProgressEventRead:
		p.done[key] = ev.Offset
	case types.ProgressEventDone:
		if ev.Artifact.Size > 0 {
			p.done[key] = uint64(ev.Artifact.Size)
		} else {
			p.done[key] = ev.Offset
		}
	case types.ProgressEventSkipped:
		// Already stored: nothing to download.
		delete(p.total, key)
		delete(p.done, key)
	}
}

// bytes returns the bytes copied and the total size of the blobs started so
// far (blobs start a few at a time, so the total grows until the last one
// starts).
func (p *pullProgress) bytes() (done, total uint64) {
	for key, d := range p.done {
		done += d
		if size := p.total[key]; size > 0 {
			total += uint64(size)
		} else {
			total += d
		}
	}
	return done, total
}

// logPullProgress logs the progress of the pull of image every interval
// until events is closed.
func logPullProgress(image string, interval time.Duration, events <-chan types.ProgressProperties) {
	p := newPullProgress()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			p.observe(ev)
		case <-tick.C:
			done, total := p.bytes()
			klog.InfoS("Pulling image", "image", image, "bytesDone", done, "bytesTotal", total,
				"blobs", len(p.done), "elapsed", time.Since(start).Round(time.Second))
		}
	}
}

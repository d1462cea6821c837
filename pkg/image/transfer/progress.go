package transfer

import (
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"
	"k8s.io/klog/v2"
)

// pullProgress adds up the progress of the blobs of one pull. It is safe
// for concurrent use: blobs download in parallel.
type pullProgress struct {
	mu    sync.Mutex
	done  map[digest.Digest]uint64 // bytes copied per blob
	total map[digest.Digest]int64  // size per blob, -1 when unknown
}

func newPullProgress() *pullProgress {
	return &pullProgress{done: make(map[digest.Digest]uint64), total: make(map[digest.Digest]int64)}
}

// start records a blob about to be downloaded.
func (p *pullProgress) start(d digest.Digest, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total[d] = size
	p.done[d] = 0
}

// advance records n more bytes of blob d.
func (p *pullProgress) advance(d digest.Digest, n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[d] += n
}

// observe records one go.podman.io/image progress event.
func (p *pullProgress) observe(ev types.ProgressProperties) {
	d := ev.Artifact.Digest
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Event {
	case types.ProgressEventNewArtifact:
		p.total[d] = ev.Artifact.Size
		p.done[d] = 0
	case types.ProgressEventRead:
		p.done[d] = ev.Offset
	case types.ProgressEventDone:
		if ev.Artifact.Size > 0 {
			p.done[d] = uint64(ev.Artifact.Size)
		} else {
			p.done[d] = ev.Offset
		}
	case types.ProgressEventSkipped:
		// Already stored: nothing to download.
		delete(p.total, d)
		delete(p.done, d)
	}
}

// bytes returns the bytes copied, the total size of the blobs started so
// far (blobs start a few at a time, so the total grows until the last one
// starts) and how many blobs that is.
func (p *pullProgress) bytes() (done, total uint64, blobs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for d, n := range p.done {
		done += n
		if size := p.total[d]; size > 0 {
			total += uint64(size)
		} else {
			total += n
		}
	}
	return done, total, len(p.done)
}

// logEvery logs the progress of the pull of image every interval until
// stop is closed.
func (p *pullProgress) logEvery(image string, interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			done, total, blobs := p.bytes()
			klog.InfoS("Pulling image", "image", image, "bytesDone", done, "bytesTotal", total,
				"blobs", blobs, "elapsed", time.Since(start).Round(time.Second))
		}
	}
}

// observeAll feeds events into p until events is closed.
func (p *pullProgress) observeAll(events <-chan types.ProgressProperties) {
	for ev := range events {
		p.observe(ev)
	}
}

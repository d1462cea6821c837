package image

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

type observedPull struct {
	bytes uint64
	d     time.Duration
	err   error
}

type pullRecorder struct {
	mu    sync.Mutex
	pulls []observedPull
}

func (r *pullRecorder) ObservePull(bytes uint64, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pulls = append(r.pulls, observedPull{bytes, d, err})
}

// A pull reports the compressed bytes of the blobs it downloaded; a pull of
// what is stored downloads no layer; a failed pull is reported failed.
func TestPullIsObserved(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	rec := &pullRecorder{}
	opts := testOptions(t, DriverOverlay, reg)
	opts.Observer = rec
	s := openTestStore(t, opts)
	img := busybox(t)
	ref, _ := push(t, reg, "library/busybox:observed", img)
	ctx := context.Background()
	if _, err := s.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var layerBytes uint64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		layerBytes += uint64(n)
	}
	if _, err := s.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(ctx, reg.Addr()+"/library/missing:1", nil); err == nil {
		t.Fatal("pull of a missing image succeeded")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.pulls) != 3 {
		t.Fatalf("observed %d pulls, want 3: %+v", len(rec.pulls), rec.pulls)
	}
	first, again, missing := rec.pulls[0], rec.pulls[1], rec.pulls[2]
	if first.err != nil || first.bytes < layerBytes || first.d <= 0 {
		t.Errorf("first pull observed %+v, want success with at least the %d layer bytes", first, layerBytes)
	}
	if again.err != nil || again.bytes >= layerBytes {
		t.Errorf("second pull observed %+v, want success without the layers", again)
	}
	if missing.err == nil {
		t.Errorf("missing image observed %+v, want its error", missing)
	}
}

package image

import (
	"context"
	"runtime"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// BenchmarkPull50MiB pulls a 50 MiB image of five incompressible gzip layers
// from a loopback registry into empty storage; hack/bench-pull.sh compares
// the same pull with containerd's.
func BenchmarkPull50MiB(b *testing.B) {
	reg := startRegistry(b, testregistry.Options{})
	s := openTestStore(b, testOptions(b, DriverOverlay, reg))
	img, err := testregistry.LayeredImage(runtime.GOARCH, 1<<32, 5, 10<<20, testregistry.Gzip)
	if err != nil {
		b.Fatal(err)
	}
	ref, _ := push(b, reg, "bench/random:50m", img)
	ctx := context.Background()
	b.SetBytes(50 << 20)
	for b.Loop() {
		pulled, err := s.Pull(ctx, ref, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Remove(ctx, pulled.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

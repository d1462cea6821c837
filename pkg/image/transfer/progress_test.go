package transfer

import (
	"testing"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"
)

func TestPullProgress(t *testing.T) {
	a := types.BlobInfo{Digest: digest.FromString("a"), Size: 1000}
	b := types.BlobInfo{Digest: digest.FromString("b"), Size: 3000}
	c := types.BlobInfo{Digest: digest.FromString("c"), Size: 500}
	p := newPullProgress()
	steps := []struct {
		ev          types.ProgressProperties
		done, total uint64
	}{
		{types.ProgressProperties{Event: types.ProgressEventNewArtifact, Artifact: a}, 0, 1000},
		{types.ProgressProperties{Event: types.ProgressEventRead, Artifact: a, Offset: 400}, 400, 1000},
		{types.ProgressProperties{Event: types.ProgressEventNewArtifact, Artifact: b}, 400, 4000},
		{types.ProgressProperties{Event: types.ProgressEventRead, Artifact: b, Offset: 1000}, 1400, 4000},
		{types.ProgressProperties{Event: types.ProgressEventDone, Artifact: a, Offset: 1000}, 2000, 4000},
		{types.ProgressProperties{Event: types.ProgressEventNewArtifact, Artifact: c}, 2000, 4500},
		{types.ProgressProperties{Event: types.ProgressEventSkipped, Artifact: c}, 2000, 4000},
		{types.ProgressProperties{Event: types.ProgressEventDone, Artifact: b, Offset: 3000}, 4000, 4000},
	}
	for i, s := range steps {
		p.observe(s.ev)
		if done, total, _ := p.bytes(); done != s.done || total != s.total {
			t.Errorf("step %d: %d of %d, want %d of %d", i, done, total, s.done, s.total)
		}
	}
}

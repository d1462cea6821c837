package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestLoadArchives(t *testing.T) {
	s := openTestStore(t, testOptions(t, DriverOverlay))
	ctx := context.Background()
	img := busybox(t)
	id := configID(t, img)
	dir := t.TempDir()

	tests := []struct {
		name     string
		write    func(path string) error
		wantTags []string
	}{
		{"docker-archive", func(p string) error {
			return testregistry.WriteDockerArchive(p, "airgap.example/tools/busybox:1", img, false)
		}, []string{"airgap.example/tools/busybox:1"}},
		{"docker-archive gzip", func(p string) error {
			return testregistry.WriteDockerArchive(p, "busybox:gz", img, true)
		}, []string{"docker.io/library/busybox:gz"}},
		{"oci-archive", func(p string) error {
			return testregistry.WriteOCIArchive(p, "airgap.example/tools/busybox:oci", img, false)
		}, []string{"airgap.example/tools/busybox:oci"}},
		{"oci-archive gzip, tag-only ref.name", func(p string) error {
			return testregistry.WriteOCIArchive(p, "latest", img, true)
		}, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := tt.write(path); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(ctx, path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(got) != 1 || got[0].ID != id {
				t.Fatalf("loaded %v, want image %s", got, id)
			}
			for _, tag := range tt.wantTags {
				if found, err := s.Get(ctx, tag); err != nil || found.ID != id {
					t.Errorf("Get(%s) = %v, %v", tag, found, err)
				}
			}
			if i == len(tests)-1 {
				return
			}
			// The next archive loads into an empty store.
			if err := s.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadMultiLayerArchiveRootfs(t *testing.T) {
	s := openTestStore(t, testOptions(t, DriverOverlay))
	ctx := context.Background()
	img, err := testregistry.LayeredImage(runtime.GOARCH, 300, 3, 32<<10, testregistry.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "multi.tar")
	if err := testregistry.WriteOCIArchive(path, "example.org/multi:1", img, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, path); err != nil {
		t.Fatal(err)
	}
	root := mountNewContainer(t, s, "multi", "example.org/multi:1")
	for _, f := range []string{"300.bin", "301.bin", "302.bin"} {
		if _, err := os.Stat(filepath.Join(root, "data", f)); err != nil {
			t.Errorf("layer file %s: %v", f, err)
		}
	}
}

func TestLoadBadArchives(t *testing.T) {
	s := openTestStore(t, testOptions(t, DriverOverlay))
	dir := t.TempDir()
	notTar := filepath.Join(dir, "not-a-tar")
	os.WriteFile(notTar, []byte("this is not an archive"), 0o644)
	emptyTar := filepath.Join(dir, "empty.tar")
	os.WriteFile(emptyTar, make([]byte, 1024), 0o644) // two zero blocks: an empty tar

	// A docker-archive cut short inside its layer.
	full := filepath.Join(dir, "full.tar")
	if err := testregistry.WriteDockerArchive(full, "example.org/cut:1", busybox(t), false); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(full)
	truncated := filepath.Join(dir, "truncated.tar")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)

	tests := []struct {
		name    string
		path    string
		invalid bool
	}{
		{"missing file", filepath.Join(dir, "nope.tar"), false},
		{"not a tar", notTar, true},
		{"empty tar", emptyTar, true},
		{"truncated archive", truncated, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Load(context.Background(), tt.path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if tt.invalid && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Load = %v, want invalid argument", err)
			}
			if imgs, layers := storedCounts(t, s); imgs != 0 || layers != 0 {
				t.Errorf("failed load left %d images, %d layers", imgs, layers)
			}
		})
	}
}

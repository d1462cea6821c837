package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// TestPullLayerSemantics checks what the layers of a pulled image add up
// to: whiteouts remove files of lower layers, opaque directories hide their
// lower contents, an empty layer changes nothing, symlinks and modes stay.
func TestPullLayerSemantics(t *testing.T) {
	for _, driver := range []string{DriverOverlay, DriverVFS} {
		t.Run(driver, func(t *testing.T) {
			reg := startRegistry(t, testregistry.Options{})
			s := openTestStore(t, testOptions(t, driver, reg))
			lower, err := testregistry.Layer([]testregistry.File{
				{Name: "a/", Dir: true},
				{Name: "a/removed", Body: []byte("1")},
				{Name: "a/kept", Body: []byte("2"), Mode: 0o600},
				{Name: "b/", Dir: true},
				{Name: "b/hidden", Body: []byte("3")},
				{Name: "link", Linkname: "a/kept"},
			}, testregistry.Gzip)
			if err != nil {
				t.Fatal(err)
			}
			empty, err := testregistry.Layer(nil, testregistry.Gzip)
			if err != nil {
				t.Fatal(err)
			}
			upper, err := testregistry.Layer([]testregistry.File{
				{Name: "a/.wh.removed"},
				{Name: "b/", Dir: true},
				{Name: "b/.wh..wh..opq"},
				{Name: "b/new", Body: []byte("4")},
			}, testregistry.Zstd)
			if err != nil {
				t.Fatal(err)
			}
			img, err := testregistry.Image(runtime.GOARCH, v1.Config{}, lower, empty, upper)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := push(t, reg, "semantics/image:1", img)
			ctx := context.Background()
			if _, err := s.Pull(ctx, ref, nil); err != nil {
				t.Fatal(err)
			}
			checkStorage(t, s)
			root := mountNewContainer(t, s, "semantics", ref)
			for _, gone := range []string{"a/removed", "b/hidden", "a/.wh.removed", "b/.wh..wh..opq"} {
				if _, err := os.Lstat(filepath.Join(root, gone)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %v, want it gone", gone, err)
				}
			}
			if fi, err := os.Stat(filepath.Join(root, "a/kept")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("a/kept: %v, mode %v", err, fi)
			}
			if _, err := os.Stat(filepath.Join(root, "b/new")); err != nil {
				t.Errorf("b/new: %v", err)
			}
			if target, err := os.Readlink(filepath.Join(root, "link")); err != nil || target != "a/kept" {
				t.Errorf("link -> %q, %v", target, err)
			}
		})
	}
}

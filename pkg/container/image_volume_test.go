package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// volumeImage is the name the image volume test image is loaded under.
const volumeImage = "crisp.test/volume:1"

// loadVolumeImage loads an image with data/hello, a data/true that runs (busybox),
// and data/escape, a symlink to hostDir, and returns its ID.
func (e *env) loadVolumeImage(t *testing.T, hostDir string) string {
	t.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("needs /bin/busybox from Debian's busybox-static package")
	}
	layer, err := testregistry.Layer([]testregistry.File{
		{Name: "data/", Dir: true},
		{Name: "data/hello", Body: []byte("hello from the image\n")},
		{Name: "data/true", Mode: 0o755, Body: bin},
		{Name: "data/escape", Linkname: hostDir},
	}, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testregistry.Image(runtime.GOARCH, v1.Config{}, layer)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(e.dir, "volume.tar")
	if err := testregistry.WriteDockerArchive(archive, volumeImage, img, false); err != nil {
		t.Fatal(err)
	}
	loaded, err := e.images.Load(context.Background(), archive)
	if err != nil {
		t.Fatal(err)
	}
	return loaded[0].ID
}

// imageVolume is a read-only image volume of ref at path, showing sub.
func imageVolume(path, ref, sub string) *runtimeapi.Mount {
	return &runtimeapi.Mount{ContainerPath: path, Readonly: true, Image: &runtimeapi.ImageSpec{Image: ref}, ImageSubPath: sub}
}

// An image volume shows the image's files, read-only and executable, a sub
// path shows what is below it, ContainerStatus names the image, the image
// cannot be removed while the volume exists, and removing the container
// removes the volume.
func TestImageVolume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	volumeID := e.loadVolumeImage(t, t.TempDir())
	sb := e.pod(t, "volumes", sandbox.ModeContainer)

	cfg := config("reader", `cat /vol/data/hello /sub/hello && /vol/data/true && echo exec-ok &&
		if touch /vol/data/new 2>/dev/null || touch /sub/new 2>/dev/null; then echo writable; fi`)
	cfg.Mounts = []*runtimeapi.Mount{imageVolume("/vol", volumeImage, ""), imageVolume("/sub", volumeID, "data")}
	c := e.run(t, sb, cfg)
	got := e.waitExited(t, c.ID)
	log := strings.Join(readLog(t, got.LogPath), "\n")
	if got.ExitCode != 0 || strings.Count(log, "hello from the image") != 2 || !strings.Contains(log, "exec-ok") || strings.Contains(log, "writable") {
		t.Errorf("container exited %d with log:\n%s\nwant the image's file through both volumes, a tool run from it, and no write", got.ExitCode, log)
	}
	for i, m := range got.Mounts {
		if st := m.CRI(); st.GetImage().GetImageRef() != volumeID || st.GetHostPath() != "" {
			t.Errorf("status of mount %d: %v, want the image %s", i, st, volumeID)
		}
	}
	if got.Mounts[1].CRI().GetImageSubPath() != "data" {
		t.Errorf("status of the sub path volume: %v", got.Mounts[1].CRI())
	}

	err := e.images.Remove(ctx, volumeImage)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "image volume") {
		t.Errorf("removing an image in use by a volume: %v, want a failed precondition naming the volume", err)
	}
	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
	if err := e.images.Remove(ctx, volumeImage); err != nil {
		t.Errorf("removing the image once its volume is gone: %v", err)
	}
}

// A sub path must exist in the image, and its symlinks resolve inside the
// image: a link to a host directory does not show the host's files.
// Refused creations leave nothing behind.
func TestImageVolumeSubPathRefused(t *testing.T) {
	e := newEnv(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "secret"), []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.loadVolumeImage(t, hostDir)
	sb := e.pod(t, "subpaths", sandbox.ModeContainer)
	for _, sub := range []string{"missing", "data/escape", "data/escape/secret"} {
		cfg := config("sub", "true")
		cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/ok", HostPath: hostDir}, imageVolume("/vol", volumeImage, sub)}
		_, err := e.m.Create(context.Background(), sb.ID, cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "mounts[1].image_sub_path") {
			t.Errorf("sub path %q: %v, want invalid mounts[1].image_sub_path", sub, err)
		}
	}
	assertNothingLeft(t, e)
}

// An image volume in a pod with its own user namespace is refused, naming
// the mount: its overlay cannot be idmapped. Nothing of it is left.
func TestImageVolumeInUserNamespacePodIsRefused(t *testing.T) {
	e := newEnv(t)
	sb := e.usernsPod(t, "usernsimagevolume")
	cfg := config("imagevolume", "true")
	cfg.Mounts = []*runtimeapi.Mount{imageVolume("/vol", testImage, "")}
	_, err := e.m.Create(context.Background(), sb.ID, cfg)
	if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "mounts[") {
		t.Fatalf("Create with an image volume in a user-namespaced pod: %v, want not implemented naming the mount", err)
	}
	if layers, err := e.images.ContainerLayers(context.Background()); err != nil || len(layers) != 0 {
		t.Errorf("layers left: %v, %v", layers, err)
	}
}

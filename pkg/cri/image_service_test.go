package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.podman.io/storage/pkg/reexec"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
	"github.com/crisp-runtime/crisp/pkg/image/transfer"
)

func TestMain(m *testing.M) {
	// go.podman.io/storage re-executes the test binary to apply layers.
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// imageFixture is an ImageService over a fresh store, served with crisp's
// interceptors on a unix socket, and a loopback registry.
type imageFixture struct {
	client runtimeapi.ImageServiceClient
	store  *image.Store
	reg    *testregistry.Registry
	authed *testregistry.Registry
}

func newImageFixture(t *testing.T) *imageFixture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: image storage mounts overlay filesystems")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox from Debian's busybox-static package")
	}
	reg, err := testregistry.Start(testregistry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	authed, err := testregistry.Start(testregistry.Options{BasicAuth: &testregistry.Credentials{Username: "bob", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { authed.Close() })

	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	body := fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n[[registry]]\nlocation = %q\ninsecure = true\n", reg.Addr(), authed.Addr())
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := image.Open(context.Background(), image.Options{
		Root:              filepath.Join(dir, "root", "storage"),
		RunRoot:           filepath.Join(dir, "state", "storage"),
		Driver:            image.DriverOverlay,
		RegistriesConf:    conf,
		RegistriesConfDir: filepath.Join(dir, "registries.conf.d"),
		SignaturePolicy:   filepath.Join(dir, "policy.json"),
		Copier:            transfer.Copier{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.CloseUnmountingAll(); err != nil {
			t.Error(err)
		}
	})

	conn := serveConn(t, func(srv *grpc.Server) { runtimeapi.RegisterImageServiceServer(srv, NewImageService(store)) })
	return &imageFixture{client: runtimeapi.NewImageServiceClient(conn), store: store, reg: reg, authed: authed}
}

// pushBusybox pushes busybox with the given default user to reg as repo.
func (f *imageFixture) pushBusybox(t *testing.T, reg *testregistry.Registry, repo, user string) string {
	t.Helper()
	img, err := testregistry.Busybox(runtime.GOARCH)
	if err == nil {
		img, err = testregistry.WithUser(img, user)
	}
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := reg.Push(context.Background(), repo, img)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func spec(ref string) *runtimeapi.ImageSpec { return &runtimeapi.ImageSpec{Image: ref} }

func TestImageServiceLifecycle(t *testing.T) {
	f := newImageFixture(t)
	ctx := background(t)
	numeric := f.pushBusybox(t, f.reg, "svc/numeric:1", "1234")
	named := f.pushBusybox(t, f.reg, "svc/named:1", "nobody")

	pulled, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(numeric)})
	if err != nil {
		t.Fatalf("PullImage: %v", err)
	}
	if _, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(named)}); err != nil {
		t.Fatalf("PullImage: %v", err)
	}

	st, err := f.client.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(pulled.ImageRef), Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	img := st.GetImage()
	if img.GetId() != pulled.ImageRef || !slices.Equal(img.GetRepoTags(), []string{numeric}) || len(img.GetRepoDigests()) != 1 {
		t.Errorf("status = %v", img)
	}
	if img.GetUid().GetValue() != 1234 || img.GetUsername() != "" || img.GetSize() == 0 {
		t.Errorf("uid %v username %q size %d; want uid 1234", img.GetUid(), img.GetUsername(), img.GetSize())
	}
	var info struct {
		ImageSpec struct {
			Architecture string                `json:"architecture"`
			Config       struct{ User string } `json:"config"`
		} `json:"imageSpec"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil || info.ImageSpec.Architecture != runtime.GOARCH || info.ImageSpec.Config.User != "1234" {
		t.Errorf("verbose info %q: %v", st.GetInfo()["info"], err)
	}
	st, err = f.client.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(named)})
	if err != nil || st.GetImage().GetUsername() != "nobody" || st.GetImage().GetUid() != nil {
		t.Errorf("named user image: %v, %v", st.GetImage(), err)
	}

	list, err := f.client.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(list.GetImages()) != 2 {
		t.Fatalf("ListImages = %v, %v", list, err)
	}
	filtered, err := f.client.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec(named)}})
	if err != nil || len(filtered.GetImages()) != 1 || filtered.GetImages()[0].GetRepoTags()[0] != named {
		t.Errorf("filtered ListImages = %v, %v", filtered, err)
	}

	// StreamImages answers the same images.
	stream, err := f.client.StreamImages(ctx, &runtimeapi.StreamImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var streamed []string
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.GetImages()) == 0 {
			t.Error("a StreamImages message carries no image")
		}
		for _, i := range msg.GetImages() {
			streamed = append(streamed, i.GetId())
		}
	}
	var listed []string
	for _, i := range list.GetImages() {
		listed = append(listed, i.GetId())
	}
	slices.Sort(streamed)
	slices.Sort(listed)
	if !slices.Equal(streamed, listed) {
		t.Errorf("StreamImages = %v, ListImages = %v", streamed, listed)
	}

	fs, err := f.client.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.GetImageFilesystems()) != 1 || fs.GetImageFilesystems()[0].GetUsedBytes().GetValue() < img.GetSize()/2 ||
		fs.GetImageFilesystems()[0].GetInodesUsed().GetValue() == 0 || fs.GetImageFilesystems()[0].GetFsId().GetMountpoint() == "" ||
		len(fs.GetContainerFilesystems()) != 1 {
		t.Errorf("ImageFsInfo = %v", fs)
	}

	// In use: FailedPrecondition; afterwards removal works and repeats.
	if _, err := f.store.CreateContainerLayer(ctx, "user", pulled.ImageRef); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(numeric)})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("RemoveImage in use = %v, want FailedPrecondition", err)
	}
	if err := f.store.RemoveContainerLayer(ctx, "user"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.client.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(numeric)}); err != nil {
			t.Errorf("RemoveImage = %v", err)
		}
	}
	st, err = f.client.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(numeric)})
	if err != nil || st.GetImage() != nil {
		t.Errorf("status of a removed image = %v, %v; want no image, no error", st, err)
	}
}

func TestImageServiceBadInput(t *testing.T) {
	f := newImageFixture(t)
	ctx := background(t)
	ref := f.pushBusybox(t, f.authed, "private/app:1", "")
	tests := []struct {
		name    string
		call    func() error
		code    codes.Code
		message string
	}{
		{"pull: empty image", func() error {
			_, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("")})
			return err
		}, codes.InvalidArgument, "image.image"},
		{"pull: invalid reference", func() error {
			_, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("Bad//Ref")})
			return err
		}, codes.InvalidArgument, `"Bad//Ref"`},
		{"pull: wrong credentials", func() error {
			_, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref),
				Auth: &runtimeapi.AuthConfig{Username: "bob", Password: "nope"}})
			return err
		}, codes.Unauthenticated, "registry " + f.authed.Addr() + ": authentication failed"},
		{"pull: unknown image", func() error {
			_, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(f.reg.Addr() + "/none:1")})
			return err
		}, codes.NotFound, "image not found"},
		{"pull: password too long", func() error {
			_, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref),
				Auth: &runtimeapi.AuthConfig{Username: "bob", Password: strings.Repeat("p", maxAuthFieldLen+1)}})
			return err
		}, codes.InvalidArgument, "auth.password"},
		{"pull: header injection in a registry token", func() error {
			_, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref),
				Auth: &runtimeapi.AuthConfig{RegistryToken: "t\r\nX-Injected: 1"}})
			return err
		}, codes.InvalidArgument, "auth.registry_token"},
		{"status: invalid reference", func() error {
			_, err := f.client.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("UPPER")})
			return err
		}, codes.InvalidArgument, `"UPPER"`},
		{"remove: empty image", func() error {
			_, err := f.client.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{})
			return err
		}, codes.InvalidArgument, "image.image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("error = %v, want %s containing %q", err, tt.code, tt.message)
			}
		})
	}
	list, err := f.client.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(list.GetImages()) != 0 {
		t.Fatalf("failed calls stored images: %v, %v", list, err)
	}
	// The right credentials pull it.
	resp, err := f.client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref),
		Auth: &runtimeapi.AuthConfig{Username: "bob", Password: "pw"}})
	if err != nil || resp.GetImageRef() == "" {
		t.Fatalf("PullImage with credentials = %v, %v", resp, err)
	}
}

package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// layerDigests returns the digests of img's layers.
func layerDigests(t testing.TB, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

func configID(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.Hex
}

func TestPullByTagAndDigest(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	img := busybox(t)
	ref, digest := push(t, reg, "library/busybox:1.35", img)
	ctx := context.Background()

	got, err := s.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatalf("Pull by tag: %v", err)
	}
	if want := configID(t, img); got.ID != want {
		t.Errorf("ID = %s, want config digest %s", got.ID, want)
	}
	if len(got.RepoTags) != 1 || got.RepoTags[0] != ref {
		t.Errorf("RepoTags = %v, want [%s]", got.RepoTags, ref)
	}
	wantDigest := reg.Addr() + "/library/busybox@" + digest
	if len(got.RepoDigests) != 1 || got.RepoDigests[0] != wantDigest {
		t.Errorf("RepoDigests = %v, want [%s]", got.RepoDigests, wantDigest)
	}
	if got.Size < 1<<20 {
		t.Errorf("Size = %d, want at least the 1 MiB busybox binary", got.Size)
	}
	if got.Config == nil || len(got.Config.Config.Cmd) != 1 || got.Config.Config.Cmd[0] != "sh" {
		t.Errorf("Config = %+v, want Cmd [sh]", got.Config)
	}

	// The same image by digest is the same ID and adds no download.
	gets := reg.BlobGets(layerDigests(t, img)[0])
	byDigest, err := s.Pull(ctx, wantDigest, nil)
	if err != nil {
		t.Fatalf("Pull by digest: %v", err)
	}
	if byDigest.ID != got.ID {
		t.Errorf("by digest ID = %s, want %s", byDigest.ID, got.ID)
	}
	if n := reg.BlobGets(layerDigests(t, img)[0]); n != gets {
		t.Errorf("pull by digest downloaded the stored layer again (%d -> %d)", gets, n)
	}
	checkStorage(t, s)
	// Tag and digest both find it.
	for _, q := range []string{ref, wantDigest, got.ID, got.ID[:12], "sha256:" + got.ID} {
		if found, err := s.Get(ctx, q); err != nil || found.ID != got.ID {
			t.Errorf("Get(%s) = %v, %v; want %s", q, found, err, got.ID)
		}
	}
}

func TestPullResolvesIndexToHostPlatform(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	images := map[string]v1.Image{}
	for i, arch := range []string{"arm64", runtime.GOARCH, "s390x"} {
		img, err := testregistry.LayeredImage(arch, uint64(100*i+1), 1, 4096, testregistry.Gzip)
		if err != nil {
			t.Fatal(err)
		}
		images[arch] = img
	}
	idx, err := testregistry.Index(images)
	if err != nil {
		t.Fatal(err)
	}
	ref, indexDigest, err := reg.PushIndex(context.Background(), "multi/arch:v1", idx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if want := configID(t, images[runtime.GOARCH]); got.ID != want {
		t.Fatalf("pulled %s, want the %s image %s", got.ID, runtime.GOARCH, want)
	}
	if got.Config.Architecture != runtime.GOARCH {
		t.Errorf("architecture = %s, want %s", got.Config.Architecture, runtime.GOARCH)
	}
	for arch, img := range images {
		if arch != runtime.GOARCH && reg.BlobGets(layerDigests(t, img)[0]) != 0 {
			t.Errorf("downloaded the %s layer", arch)
		}
	}
	// The index digest addresses the image too, as kubelet may pin it.
	byIndex := reg.Addr() + "/multi/arch@" + indexDigest
	if found, err := s.Get(context.Background(), byIndex); err != nil || found.ID != got.ID {
		t.Errorf("Get(%s) = %v, %v", byIndex, found, err)
	}
}

func TestPullLayerFormats(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	tests := []struct {
		name   string
		layers int
		c      testregistry.Compression
	}{
		{"gzip", 2, testregistry.Gzip},
		{"zstd", 2, testregistry.Zstd},
		{"uncompressed", 1, testregistry.Uncompressed},
		{"20 layers", 20, testregistry.Gzip},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := testregistry.LayeredImage(runtime.GOARCH, uint64(1000*(i+1)), tt.layers, 64<<10, tt.c)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := push(t, reg, fmt.Sprintf("formats/img%d:latest", i), img)
			got, err := s.Pull(context.Background(), ref, nil)
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			// Every layer's file must be in the image's filesystem.
			c, err := s.CreateContainerLayer(context.Background(), "check-"+got.ID[:12], got.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer s.RemoveContainerLayer(context.Background(), c.ID)
			root, err := s.Mount(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Unmount(context.Background(), c.ID)
			for l := range tt.layers {
				p := filepath.Join(root, "data", fmt.Sprintf("%d.bin", 1000*(i+1)+l))
				if fi, err := os.Stat(p); err != nil || fi.Size() != 64<<10 {
					t.Errorf("layer %d file: %v", l, err)
				}
			}
		})
	}
	checkStorage(t, s)
}

func TestPullConfinesLayerToItsRoot(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	outside := t.TempDir()
	// A symlink to a host directory, then a file through it, then a path
	// climbing out: all must land inside the layer.
	layer, err := testregistry.Layer([]testregistry.File{
		{Name: "escape", Linkname: outside},
		{Name: "escape/through-symlink", Body: []byte("x")},
		{Name: "../../../../../../" + outside[1:] + "/through-dotdot", Body: []byte("x")},
	}, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testregistry.Image(runtime.GOARCH, v1.Config{}, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := push(t, reg, "evil/escape:1", img)
	ctx := context.Background()
	if _, err := s.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("a layer wrote outside its root: %v", entries)
	}
	// The file written through the symlink is inside the image instead.
	root := mountNewContainer(t, s, "confined", ref)
	if _, err := os.Stat(filepath.Join(root, outside, "through-symlink")); err != nil {
		t.Errorf("file written through the symlink is not inside the image: %v", err)
	}
}

func TestPullImageUser(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	base := busybox(t)
	uid := func(v int64) *int64 { return &v }
	tests := []struct {
		user     string
		wantUID  *int64
		wantName string
	}{
		{"", nil, ""},
		{"1000", uid(1000), ""},
		{"1000:1000", uid(1000), ""},
		{"nobody", nil, "nobody"},
		{"nobody:nogroup", nil, "nobody"},
	}
	for i, tt := range tests {
		t.Run("user="+tt.user, func(t *testing.T) {
			img, err := testregistry.WithUser(base, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := push(t, reg, fmt.Sprintf("users/u%d:latest", i), img)
			got, err := s.Pull(context.Background(), ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			if (got.UID == nil) != (tt.wantUID == nil) || (got.UID != nil && *got.UID != *tt.wantUID) || got.Username != tt.wantName {
				t.Errorf("uid=%v username=%q, want uid=%v username=%q", got.UID, got.Username, tt.wantUID, tt.wantName)
			}
		})
	}
}

func TestPullAuthentication(t *testing.T) {
	creds := &testregistry.Credentials{Username: "alice", Password: "s3cret"}
	basic := startRegistry(t, testregistry.Options{BasicAuth: creds})
	token := startRegistry(t, testregistry.Options{Token: &testregistry.TokenAuth{IdentityToken: "refresh-123", RegistryToken: "bearer-456"}})
	s := openTestStore(t, testOptions(t, DriverOverlay, basic, token))
	img := busybox(t)
	basicRef, _ := push(t, basic, "private/busybox:1", img)
	tokenRef, _ := push(t, token, "private/busybox:1", img)

	tests := []struct {
		name    string
		ref     string
		auth    *Auth
		wantErr string
	}{
		{"basic: no credentials", basicRef, nil, "authentication failed"},
		{"basic: wrong password", basicRef, &Auth{Username: "alice", Password: "wrong"}, "authentication failed"},
		{"basic: bad auth field", basicRef, &Auth{Auth: "%%%"}, "not base64"},
		{"token: wrong identity token", tokenRef, &Auth{IdentityToken: "nope"}, "authentication failed"},
		{"basic: username and password", basicRef, &Auth{Username: "alice", Password: "s3cret"}, ""},
		{"basic: auth field", basicRef, &Auth{Auth: "YWxpY2U6czNjcmV0"}, ""},
		{"token: identity token", tokenRef, &Auth{IdentityToken: "refresh-123"}, ""},
		{"token: registry token", tokenRef, &Auth{RegistryToken: "bearer-456"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Pull(context.Background(), tt.ref, tt.auth)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Pull = %v, want error containing %q", err, tt.wantErr)
				}
				if tt.wantErr == "authentication failed" && !errors.Is(err, errdefs.ErrUnauthenticated) {
					t.Errorf("error %q is not classed unauthenticated", err)
				}
				if host := strings.SplitN(tt.ref, "/", 2)[0]; !strings.Contains(err.Error(), "registry "+host) {
					t.Errorf("error %q does not name registry %s", err, host)
				}
				if n, _ := storedCounts(t, s); n != 0 {
					t.Errorf("a failed pull stored %d images", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			if err := s.Remove(context.Background(), got.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPullFailuresStoreNothing(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	s := openTestStore(t, opts)
	ctx := context.Background()

	// Three layers, the last one corrupted on the wire: the first two are
	// committed before the digest check fails and must be removed again.
	var layers []v1.Layer
	for i := range 2 {
		l, err := testregistry.RandomLayer(uint64(7000+i), 256<<10, testregistry.Gzip)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	bad, err := testregistry.RandomLayer(7002, 256<<10, testregistry.Uncompressed)
	if err != nil {
		t.Fatal(err)
	}
	layers = append(layers, bad)
	img, err := testregistry.Image(runtime.GOARCH, v1.Config{}, layers...)
	if err != nil {
		t.Fatal(err)
	}
	corruptRef, _ := push(t, reg, "broken/image:1", img)
	badDigest, _ := bad.Digest()
	reg.Corrupt(badDigest.String())

	// A port nothing listens on.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := lis.Addr().String()
	lis.Close()

	tests := []struct {
		name      string
		ref       string
		wantErr   string
		wantClass error
	}{
		{"corrupted blob", corruptRef, "does not match its digest", nil},
		{"unknown tag", reg.Addr() + "/broken/image:nope", "image not found", errdefs.ErrNotFound},
		{"unknown repository", reg.Addr() + "/no/such:1", "image not found", errdefs.ErrNotFound},
		{"unreachable registry", deadAddr + "/any/image:1", "registry unreachable", errdefs.ErrUnavailable},
		{"invalid reference", "Not_A/Valid::ref", "invalid image reference", errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Pull(ctx, tt.ref, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Pull = %v, want error containing %q", err, tt.wantErr)
			}
			if tt.wantClass != nil && !errors.Is(err, tt.wantClass) {
				t.Errorf("error %v is not %v", err, tt.wantClass)
			}
			if imgs, layers := storedCounts(t, s); imgs != 0 || layers != 0 {
				t.Errorf("failed pull left %d images and %d layers", imgs, layers)
			}
		})
	}
}

func TestPullSharesOneDownload(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	s := openTestStore(t, testOptions(t, DriverOverlay, reg))
	img, err := testregistry.LayeredImage(runtime.GOARCH, 9000, 4, 512<<10, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := push(t, reg, "shared/image:1", img)

	const pulls = 10
	ids := make([]string, pulls)
	errs := make([]error, pulls)
	var wg sync.WaitGroup
	for i := range pulls {
		wg.Go(func() {
			got, err := s.Pull(context.Background(), ref, nil)
			if err == nil {
				ids[i] = got.ID
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range pulls {
		if errs[i] != nil || ids[i] != configID(t, img) {
			t.Errorf("pull %d: id %s, err %v", i, ids[i], errs[i])
		}
	}
	for _, d := range layerDigests(t, img) {
		if n := reg.BlobGets(d); n != 1 {
			t.Errorf("layer %s downloaded %d times, want 1", d, n)
		}
	}
}

// stalledImage pushes a two-layer image whose second layer the registry
// never finishes sending.
func stalledImage(t testing.TB, reg *testregistry.Registry, repo string) string {
	t.Helper()
	img, err := testregistry.LayeredImage(runtime.GOARCH, 5000, 2, 1<<20, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := push(t, reg, repo, img)
	reg.Stall(layerDigests(t, img)[1])
	return ref
}

func TestPullCancelAndTimeout(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	opts.PullTimeout = 2 * time.Second
	s := openTestStore(t, opts)
	ref := stalledImage(t, reg, "slow/image:1")

	t.Run("cancelled by the caller", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := s.Pull(ctx, ref, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pull = %v, want the caller's deadline", err)
		}
	})
	t.Run("pull timeout", func(t *testing.T) {
		_, err := s.Pull(context.Background(), ref, nil)
		if !errors.Is(err, errdefs.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("Pull = %v, want a timeout", err)
		}
	})
	// The abandoned pulls finish in the background; then nothing is left.
	deadline := time.Now().Add(10 * time.Second)
	for {
		imgs, layers := storedCounts(t, s)
		if imgs == 0 && layers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancelled pulls left %d images and %d layers", imgs, layers)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPullRegistriesConf(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	dir := t.TempDir()
	// registry.invalid does not resolve; its mirror on loopback serves it.
	conf := writeRegistriesConf(t, dir, fmt.Sprintf(`
[[registry]]
prefix = "registry.invalid/mirrored"
location = "registry.invalid/mirrored"
[[registry.mirror]]
location = "%s/mirrored"
insecure = true

[[registry]]
location = "blocked.invalid"
blocked = true
`, reg.Addr()))
	opts := testOptions(t, DriverOverlay)
	opts.RegistriesConf = conf
	s := openTestStore(t, opts)
	push(t, reg, "mirrored/app:2", busybox(t))

	got, err := s.Pull(context.Background(), "registry.invalid/mirrored/app:2", nil)
	if err != nil {
		t.Fatalf("Pull through mirror: %v", err)
	}
	if len(got.RepoTags) != 1 || got.RepoTags[0] != "registry.invalid/mirrored/app:2" {
		t.Errorf("RepoTags = %v, want the requested name", got.RepoTags)
	}
	_, err = s.Pull(context.Background(), "blocked.invalid/app:1", nil)
	if err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("Pull from a blocked registry = %v, want blocked", err)
	}
}

func TestPullWithoutRegistriesConf(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay)
	dir := filepath.Dir(opts.RegistriesConf)
	// A fresh machine has no registries.conf; a drop-in still applies.
	opts.RegistriesConf = filepath.Join(dir, "missing", "registries.conf")
	if err := os.MkdirAll(opts.RegistriesConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dropIn := fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", reg.Addr())
	if err := os.WriteFile(filepath.Join(opts.RegistriesConfDir, "50-test.conf"), []byte(dropIn), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, opts)
	ref, _ := push(t, reg, "fresh/machine:1", busybox(t))
	if _, err := s.Pull(context.Background(), ref, nil); err != nil {
		t.Fatalf("Pull without registries.conf: %v", err)
	}

	// Neither the file nor the drop-in directory: the registry is reached
	// with the defaults (TLS, which the plain-HTTP test registry does not
	// speak), not refused for the configuration.
	noConf := testOptions(t, DriverOverlay)
	noConf.RegistriesConf = filepath.Join(dir, "missing", "registries.conf")
	noConf.RegistriesConfDir = filepath.Join(dir, "missing", "registries.conf.d")
	s2 := openTestStore(t, noConf)
	_, err := s2.Pull(context.Background(), ref, nil)
	if err == nil || strings.Contains(err.Error(), "registries configuration") || !strings.Contains(err.Error(), "HTTP") {
		t.Fatalf("Pull without registries.conf or drop-ins = %v, want an HTTPS failure talking to the registry", err)
	}

	// The file created later applies without a restart.
	if err := os.MkdirAll(filepath.Join(dir, "missing"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeRegistriesConf(t, filepath.Join(dir, "missing"), "", reg)
	if _, err := s2.Pull(context.Background(), ref, nil); err != nil {
		t.Fatalf("Pull after registries.conf appeared: %v", err)
	}

	// A file that exists but is malformed is still an error.
	bad := testOptions(t, DriverOverlay, reg)
	if err := os.WriteFile(bad.RegistriesConf, []byte("[[registry]\nlocation = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s3 := openTestStore(t, bad)
	if _, err := s3.Pull(context.Background(), ref, nil); err == nil || !strings.Contains(err.Error(), "registries configuration") {
		t.Fatalf("Pull with a malformed registries.conf = %v, want a registries configuration error", err)
	}
}

// TestDefaultRegistriesConfParses checks the commented registries.conf
// `make install` installs: it must load and change nothing.
func TestDefaultRegistriesConfParses(t *testing.T) {
	conf, err := sysregistriesv2.TryUpdatingCache(&types.SystemContext{
		SystemRegistriesConfPath:    "../../deploy/containers/registries.conf",
		SystemRegistriesConfDirPath: filepath.Join(t.TempDir(), "none"),
	})
	if err != nil {
		t.Fatalf("deploy/containers/registries.conf: %v", err)
	}
	if len(conf.Registries) != 0 {
		t.Errorf("default registries.conf configures %d registries, want none", len(conf.Registries))
	}
}

func TestPullSignaturePolicy(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	if err := os.WriteFile(opts.SignaturePolicy, []byte(`{"default":[{"type":"reject"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, opts)
	ref, _ := push(t, reg, "policy/image:1", busybox(t))
	if _, err := s.Pull(context.Background(), ref, nil); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("Pull under a reject policy = %v, want rejected", err)
	}
	if n, _ := storedCounts(t, s); n != 0 {
		t.Fatalf("rejected image stored")
	}
}

// A store opened without a Copier refuses pulls as not implemented, before
// it reaches the registry, and stores nothing.
func TestPullWithoutCopierRefused(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	ref, _ := push(t, reg, "library/busybox:1", busybox(t))
	opts := testOptions(t, DriverOverlay, reg)
	opts.Copier = nil
	s := openTestStore(t, opts)
	_, err := s.Pull(context.Background(), ref, nil)
	if !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Fatalf("Pull without a Copier: %v, want ErrNotImplemented", err)
	}
	if images, layers := storedCounts(t, s); images != 0 || layers != 0 {
		t.Errorf("%d images and %d layers stored", images, layers)
	}
}

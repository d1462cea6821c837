package image

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/reexec"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestMain(m *testing.M) {
	// go.podman.io/storage re-executes the binary to apply layers.
	if reexec.Init() {
		return
	}
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(runCrashChild())
	}
	os.Exit(m.Run())
}

// requireRoot skips tests that mount and chown.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: storage mounts overlay filesystems and chowns layer files")
	}
}

// requireBusybox skips tests that build the busybox image.
func requireBusybox(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox from Debian's busybox-static package")
	}
}

// writeRegistriesConf writes a registries.conf marking the loopback
// registries insecure (they serve plain HTTP), plus extra TOML.
func writeRegistriesConf(t testing.TB, dir string, extra string, regs ...*testregistry.Registry) string {
	t.Helper()
	var b strings.Builder
	for _, r := range regs {
		fmt.Fprintf(&b, "[[registry]]\nlocation = %q\ninsecure = true\n\n", r.Addr())
	}
	b.WriteString(extra)
	path := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testOptions are Options for a fresh storage under a test directory. They
// copy images in with testCopier, or with the crisp-image that
// helperTestEnv names (TestPullsAndLoadsThroughHelper).
func testOptions(t testing.TB, driver string, regs ...*testregistry.Registry) Options {
	t.Helper()
	dir := t.TempDir()
	copier := testCopier
	if path := os.Getenv(helperTestEnv); path != "" {
		copier = Helper{Path: path}
	}
	return Options{
		Root:              filepath.Join(dir, "root", "storage"),
		RunRoot:           filepath.Join(dir, "state", "storage"),
		Driver:            driver,
		RegistriesConf:    writeRegistriesConf(t, dir, "", regs...),
		RegistriesConfDir: filepath.Join(dir, "registries.conf.d"),
		SignaturePolicy:   filepath.Join(dir, "policy.json"), // absent: accept anything
		Copier:            copier,
	}
}

// openTestStore opens a store and closes it, unmounting everything, when the
// test ends; it fails the test if a mount under the storage outlives it.
func openTestStore(t testing.TB, opts Options) *Store {
	t.Helper()
	requireRoot(t)
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.CloseUnmountingAll(); err != nil {
			t.Errorf("close store: %v", err)
		}
		if m := mountsUnder(t, filepath.Dir(opts.Root)); len(m) > 0 {
			t.Errorf("mounts left behind: %v", m)
		}
	})
	return s
}

// startRegistry starts a loopback registry stopped with the test.
func startRegistry(t testing.TB, opts testregistry.Options) *testregistry.Registry {
	t.Helper()
	r, err := testregistry.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// push stores img in r as ref and returns the full reference and digest.
func push(t testing.TB, r *testregistry.Registry, ref string, img v1.Image) (string, string) {
	t.Helper()
	full, digest, err := r.Push(context.Background(), ref, img)
	if err != nil {
		t.Fatal(err)
	}
	return full, digest
}

// busybox builds the busybox image for the host architecture.
func busybox(t testing.TB) v1.Image {
	t.Helper()
	requireBusybox(t)
	img, err := testregistry.Busybox(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// mountsUnder lists the mount points below dir.
func mountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// storedCounts returns how many images and layers the storage holds.
func storedCounts(t testing.TB, s *Store) (images, layers int) {
	t.Helper()
	imgs, err := s.store.Images()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := s.store.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return len(imgs), len(ls)
}

// checkStorage fails the test if go.podman.io/storage finds damage: every
// layer's files must reproduce its recorded digest.
func checkStorage(t testing.TB, s *Store) {
	t.Helper()
	report, err := s.store.Check(storage.CheckMost())
	if err != nil {
		t.Fatalf("storage check: %v", err)
	}
	if len(report.Layers)+len(report.Images)+len(report.Containers) > 0 {
		t.Fatalf("storage damaged: layers %v images %v containers %v", report.Layers, report.Images, report.Containers)
	}
	// Pulls leave no staging directories behind.
	if left, _ := os.ReadDir(filepath.Join(s.Root(), s.Driver(), "staging")); len(left) > 0 {
		t.Fatalf("%d staging directories left behind", len(left))
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"relative root", Options{Root: "storage", RunRoot: "/run/x", Driver: DriverOverlay}, "must be absolute"},
		{"unknown driver", Options{Root: t.TempDir(), RunRoot: t.TempDir(), Driver: "zfs"}, `"zfs" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestOpenOverlayOnThisHost(t *testing.T) {
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(fs), "\toverlay\n") {
		t.Skip("needs a kernel with overlayfs")
	}
	s := openTestStore(t, testOptions(t, DriverOverlay))
	// The host kernel mounts overlay; a fallback here would hide a bug.
	if s.Driver() != DriverOverlay {
		t.Fatalf("driver = %s, want overlay", s.Driver())
	}
}

// mountNewContainer creates a container layer named name on ref, mounts it
// and returns its root; the layer is removed when the test ends.
func mountNewContainer(t testing.TB, s *Store, name, ref string) string {
	t.Helper()
	ctx := context.Background()
	c, err := s.CreateContainerLayer(ctx, name, ref)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.RemoveContainerLayer(ctx, c.ID) })
	root, err := s.Mount(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

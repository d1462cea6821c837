package crisptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// BusyboxRef is the reference LoadBusybox gives the image.
const BusyboxRef = "crisp.test/busybox:1"

// LoadBusybox loads a busybox image built from the host's /bin/busybox into
// d's storage with the offline CLI (a daemon in a network namespace of its
// own cannot reach a registry on the host's loopback) and returns its
// reference. It skips without /bin/busybox.
func LoadBusybox(t testing.TB, d *Daemon) string {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox from Debian's busybox-static package")
	}
	img, err := testregistry.Busybox(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(d.Dir, "busybox.tar")
	if err := testregistry.WriteDockerArchive(archive, BusyboxRef, img, false); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(d.Bin, "images", "--config", d.Config, "load", archive).CombinedOutput(); err != nil {
		t.Fatalf("crisp images load: %v\n%s", err, out)
	}
	return BusyboxRef
}

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// TestCrictlImages drives the ImageService with crictl against a running
// daemon and a loopback registry, then loads an archive with the offline
// CLI beside the daemon.
func TestCrictlImages(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox from Debian's busybox-static package")
	}
	reg, err := testregistry.Start(testregistry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	img, err := testregistry.Busybox(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	img, err = testregistry.WithUser(img, "65534")
	if err != nil {
		t.Fatal(err)
	}
	ref, digest, err := reg.Push(context.Background(), "library/busybox:1.35", img)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "[[registry]]\nlocation = %q\ninsecure = true\n", reg.Addr()), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, fmt.Sprintf("[image]\nregistries_conf = %q\nregistries_conf_dir = %q\n", conf, filepath.Join(dir, "conf.d")))
	d.Start(t)

	if out := crictl(t, d, "pull", ref); !strings.Contains(out, "Image is up to date for ") {
		t.Fatalf("crictl pull: %s", out)
	}
	var list struct {
		Images []struct {
			ID          string   `json:"id"`
			RepoTags    []string `json:"repoTags"`
			RepoDigests []string `json:"repoDigests"`
			UID         struct {
				Value string `json:"value"`
			} `json:"uid"`
		} `json:"images"`
	}
	decodeCrictlJSON(t, crictl(t, d, "images", "-o", "json"), &list)
	if len(list.Images) != 1 || list.Images[0].RepoTags[0] != ref || list.Images[0].UID.Value != "65534" ||
		list.Images[0].RepoDigests[0] != reg.Addr()+"/library/busybox@"+digest {
		t.Fatalf("crictl images: %+v", list)
	}

	var inspect struct {
		Status struct {
			ID string `json:"id"`
		} `json:"status"`
		Info struct {
			ImageSpec struct {
				Architecture string `json:"architecture"`
			} `json:"imageSpec"`
		} `json:"info"`
	}
	decodeCrictlJSON(t, crictl(t, d, "inspecti", "-o", "json", ref), &inspect)
	if inspect.Status.ID != list.Images[0].ID || inspect.Info.ImageSpec.Architecture != runtime.GOARCH {
		t.Errorf("crictl inspecti: %+v", inspect)
	}

	var fs struct {
		Status struct {
			ImageFilesystems []struct {
				UsedBytes struct {
					Value string `json:"value"`
				} `json:"usedBytes"`
			} `json:"imageFilesystems"`
		} `json:"status"`
	}
	decodeCrictlJSON(t, crictl(t, d, "imagefsinfo", "-o", "json"), &fs)
	if len(fs.Status.ImageFilesystems) != 1 || fs.Status.ImageFilesystems[0].UsedBytes.Value == "0" {
		t.Errorf("crictl imagefsinfo: %+v", fs)
	}

	crictl(t, d, "pull", reg.Addr()+"/library/busybox@"+digest)
	crictl(t, d, "rmi", ref)
	decodeCrictlJSON(t, crictl(t, d, "images", "-o", "json"), &list)
	if len(list.Images) != 0 {
		t.Fatalf("images left after rmi: %+v", list)
	}

	// Offline load into the daemon's storage while it runs.
	archive := filepath.Join(dir, "busybox.tar")
	if err := testregistry.WriteDockerArchive(archive, "airgap.example/busybox:1", img, false); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(crispBin, "images", "--config", d.Config, "load", archive).CombinedOutput(); err != nil {
		t.Fatalf("crisp images load: %v\n%s", err, out)
	}
	if out := crictl(t, d, "images"); !strings.Contains(out, "airgap.example/busybox") {
		t.Fatalf("the daemon does not list the loaded image:\n%s", out)
	}
}

// decodeCrictlJSON parses crictl -o json output into v.
func decodeCrictlJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
}

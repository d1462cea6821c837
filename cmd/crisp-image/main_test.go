package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// crisp-image starts once per pull: it links the image code and nothing of
// the daemon's CRI, CNI, NRI, records or metrics.
func TestLinksOnlyTheImageCode(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/cri-api/", "github.com/containernetworking/", "github.com/containerd/nri", "github.com/prometheus/", "go.etcd.io/bbolt", "github.com/crisp-runtime/crisp/pkg/cri", "github.com/crisp-runtime/crisp/pkg/oci"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("crisp-image links %s", dep)
			}
		}
	}
}

// Arguments are refused: crisp-image takes its request on standard input.
func TestRefusesArguments(t *testing.T) {
	if os.Getenv("CRISP_IMAGE_TEST_MAIN") == "1" {
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRefusesArguments$", "pull", "busybox")
	cmd.Env = append(os.Environ(), "CRISP_IMAGE_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "takes no arguments") {
		t.Fatalf("crisp-image with arguments: %v: %s", err, out)
	}
}

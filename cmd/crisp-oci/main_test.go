package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Called as crisp-oci it is the executor's command; handed `crisp oci …`
// by crisp, it reads as crisp's.
func TestRootCommandNames(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--help"}, "crisp-oci list [flags]"},
		{[]string{"oci", "list", "--help"}, "crisp oci list [flags]"},
	} {
		root := newRootCommand(tc.args)
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(tc.args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: usage %q does not contain %q", tc.args, out.String(), tc.want)
		}
	}
}

// crisp-oci must stay small and fast to start: none of the daemon's image,
// CNI, CRI, gRPC or metrics code may be linked into it, nor protobuf,
// which CRIU's protocol needs (crisp serves checkpoint and restore).
func TestLinksOnlyTheExecutor(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/cri-api/", "google.golang.org/grpc", "go.podman.io/", "github.com/containernetworking/", "github.com/prometheus/", "github.com/containerd/", "google.golang.org/protobuf/", "github.com/checkpoint-restore/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("crisp-oci links %s", dep)
			}
		}
	}
}

// What crisp's hand-over adds for the Go runtime is gone before anything
// starts; a GOMAXPROCS of the caller's stays.
func TestRestoreCallerEnv(t *testing.T) {
	t.Setenv("GOMAXPROCS", "1")
	t.Setenv(handoverMark, "1")
	restoreCallerEnv()
	for _, name := range []string{"GOMAXPROCS", handoverMark} {
		if v, ok := os.LookupEnv(name); ok {
			t.Errorf("%s=%q after restoreCallerEnv", name, v)
		}
	}
	t.Setenv("GOMAXPROCS", "3")
	restoreCallerEnv()
	if got := os.Getenv("GOMAXPROCS"); got != "3" {
		t.Errorf("the caller's GOMAXPROCS=3 became %q", got)
	}
}

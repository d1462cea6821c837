package ocicli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/internal/exetest"
)

// crispOCIBeside places this test binary, as crisp-oci (no CRIU protocol),
// in a directory of its own, and returns its path.
func crispOCIBeside(t *testing.T) string {
	return exetest.Place(t, "crisp-oci")
}

// crisp-oci hands checkpoint and restore, which need CRIU's protocol, to
// the crisp beside it, as `crisp oci` with the same arguments and kept in
// crisp; a command crisp handed over already names oci once.
func TestCheckpointRestoreHandedBackToCrisp(t *testing.T) {
	ociPath := crispOCIBeside(t)
	dir := filepath.Dir(ociPath)
	out := filepath.Join(dir, "out")
	script := "#!/bin/sh\necho \"$0 $* in-process=$CRISP_OCI_IN_PROCESS\" > " + out + "\n"
	if err := os.WriteFile(filepath.Join(dir, "crisp"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mode, args, want string }{
		{"crisp-oci", "--root /r checkpoint --image-path /i c1", "oci --root /r checkpoint --image-path /i c1"},
		{"crisp-oci", "restore --bundle /b --image-path /i c1", "oci restore --bundle /b --image-path /i c1"},
		{"crisp-oci-handed-over", "oci --root /r checkpoint c1", "oci --root /r checkpoint c1"},
	} {
		cmd := exec.Command(ociPath, strings.Fields(tc.args)...)
		cmd.Env = append(os.Environ(), "CRISP_TEST_MAIN="+tc.mode)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("crisp-oci %s: %v: %s", tc.args, err, b)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("crisp-oci %s did not run crisp: %v", tc.args, err)
		}
		want := filepath.Join(dir, "crisp") + " " + tc.want + " in-process=1\n"
		if string(got) != want {
			t.Errorf("crisp-oci %s ran %q, want %q", tc.args, got, want)
		}
		os.Remove(out)
	}
}

// crisp, handed checkpoint back, runs with the timer slack of crisp-oci's
// children, not the one crisp-oci raised for itself.
func TestHandBackGivesCrispChildTimerSlack(t *testing.T) {
	ociPath := crispOCIBeside(t)
	dir := filepath.Dir(ociPath)
	out := filepath.Join(dir, "out")
	script := "#!/bin/sh\ncat /proc/self/timerslack_ns > " + out + "\n"
	if err := os.WriteFile(filepath.Join(dir, "crisp"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ociPath, "--root", t.TempDir(), "checkpoint", "c1")
	cmd.Env = append(os.Environ(), "CRISP_TEST_MAIN=crisp-oci", "CRISP_TEST_CHILD_SLACK=777000")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crisp-oci checkpoint: %v: %s", err, b)
	}
	if got, err := os.ReadFile(out); err != nil || strings.TrimSpace(string(got)) != "777000" {
		t.Errorf("crisp ran with timer slack %q (%v), want 777000", got, err)
	}
}

// Without crisp beside it, crisp-oci refuses checkpoint and says why.
func TestCheckpointWithoutCrispBesideRefused(t *testing.T) {
	ociPath := crispOCIBeside(t)
	cmd := exec.Command(ociPath, "--root", t.TempDir(), "checkpoint", "c1")
	cmd.Env = append(os.Environ(), "CRISP_TEST_MAIN=crisp-oci")
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("crisp-oci checkpoint without crisp succeeded: %s", b)
	}
	if !strings.Contains(string(b), "served by crisp") {
		t.Errorf("crisp-oci checkpoint without crisp: %s, want it to say crisp serves it", b)
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/internal/exetest"
)

// crispIn puts this test binary (crisp's main under CRISP_TEST_MAIN) in a
// directory of its own as "crisp", with, when handover is not empty, a
// crisp-oci beside it: a script that prints handover and its arguments.
func crispIn(t *testing.T, handover string) string {
	t.Helper()
	crisp := exetest.Place(t, "crisp")
	if handover != "" {
		script := "#!/bin/sh\necho " + handover + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(filepath.Dir(crisp), "crisp-oci"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return crisp
}

func runCrisp(t *testing.T, crisp string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(crisp, args...)
	cmd.Env = append(append(os.Environ(), "CRISP_TEST_MAIN=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("crisp %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// `crisp oci …` runs the crisp-oci beside crisp, with crisp's arguments
// unchanged; nothing else does.
func TestOCIHandsOverToCrispOCI(t *testing.T) {
	crisp := crispIn(t, "handed-over")
	if got := runCrisp(t, crisp, nil, "oci", "--root", t.TempDir(), "list", "-q"); !strings.HasPrefix(got, "handed-over oci --root ") || !strings.HasSuffix(got, " list -q\n") {
		t.Errorf("crisp oci list with crisp-oci beside it printed %q", got)
	}
	if got := runCrisp(t, crisp, nil, "version"); strings.Contains(got, "handed-over") || !strings.Contains(got, "crisp version") {
		t.Errorf("crisp version printed %q", got)
	}
	// CRISP_OCI_IN_PROCESS keeps the command in crisp.
	if got := runCrisp(t, crisp, []string{"CRISP_OCI_IN_PROCESS=1"}, "oci", "--root", t.TempDir(), "list", "-q"); got != "" {
		t.Errorf("crisp oci list in process printed %q, want no containers", got)
	}
}

// Without a crisp-oci beside it, crisp serves `crisp oci` itself.
func TestOCIWithoutCrispOCI(t *testing.T) {
	crisp := crispIn(t, "")
	if got := runCrisp(t, crisp, nil, "oci", "--root", t.TempDir(), "list"); !strings.HasPrefix(got, "ID") {
		t.Errorf("crisp oci list printed %q, want the list's header", got)
	}
}

// The hand-over starts crisp-oci's Go runtime with GOMAXPROCS=1 and the
// mark that has crisp-oci remove both, unless the caller set GOMAXPROCS.
func TestOCIHandOverSetsGOMAXPROCS(t *testing.T) {
	crisp := crispIn(t, `"[$GOMAXPROCS][$_CRISP_OCI_GOMAXPROCS]"`)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "[1][1] oci list\n"},
		{[]string{"GOMAXPROCS=3"}, "[3][] oci list\n"},
	} {
		cmd := exec.Command(crisp, "oci", "list")
		cmd.Env = append(append(env, "CRISP_TEST_MAIN=1"), tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("crisp oci list: %v: %s", err, out)
		}
		if string(out) != tc.want {
			t.Errorf("with %v crisp-oci saw %q, want %q", tc.env, out, tc.want)
		}
	}
}

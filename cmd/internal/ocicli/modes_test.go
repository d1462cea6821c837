package ocicli

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Under a umask of 0, what `crisp oci` writes is not open to others:
// config.json from spec is 0644, the --log file and the --pid-file 0600.
func TestOCIFileModes(t *testing.T) {
	c := newOCICLI(t)
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sleep", "100"}
	})
	dir := t.TempDir()
	logPath, pidPath := filepath.Join(dir, "log"), filepath.Join(dir, "pid")
	if _, errOut, code := c.run("--log", logPath, "create", "--bundle", bundle, "--pid-file", pidPath, "modes"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	defer c.run("delete", "--force", "modes")
	for path, want := range map[string]os.FileMode{
		filepath.Join(bundle, "config.json"): 0o644,
		logPath:                              0o600,
		pidPath:                              0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", path, got, want)
		}
	}
}

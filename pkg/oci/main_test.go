package oci

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary serve as the crisp binary: the executor
// re-executes /proc/self/exe to enter containers. The busybox rootfs and
// the tests' parent cgroup are removed at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	if rootfsDir != "" {
		_ = os.RemoveAll(rootfsDir)
	}
	for _, mount := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		_ = os.Remove(filepath.Join(mount, "crisp-test"))
	}
	os.Exit(code)
}

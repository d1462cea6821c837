package oci

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary serve as the crisp binary: the executor
// re-executes /proc/self/exe to enter containers. The tests' parent cgroup
// is removed at the end.
func TestMain(m *testing.M) {
	if IsInit() {
		Init()
	}
	code := m.Run()
	for _, mount := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		_ = os.Remove(filepath.Join(mount, "crisp-test"))
	}
	os.Exit(code)
}

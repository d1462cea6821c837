package oci

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary serve as the crisp binary: the executor
// re-executes /proc/self/exe to enter containers. The busybox rootfs and
// the tests' parent cgroup are removed at the end. With
// CRISP_TEST_NONDUMPABLE set, the binary is a non-dumpable process that
// sleeps, for TestInitIsNotDumpable's control.
func TestMain(m *testing.M) {
	if os.Getenv("CRISP_TEST_NONDUMPABLE") != "" {
		_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	code := m.Run()
	if rootfsDir != "" {
		_ = os.RemoveAll(rootfsDir)
	}
	for _, mount := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		_ = os.Remove(filepath.Join(mount, "crisp-test"))
	}
	os.Exit(code)
}

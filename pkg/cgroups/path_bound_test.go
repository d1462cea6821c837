package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// TestCgroupPathBound shows that mkdir(2) refuses a path of PATH_MAX bytes
// and that a cgroup parent or cgroupsPath that long is refused before it,
// as InvalidArgument naming the field, while one just below passes.
func TestCgroupPathBound(t *testing.T) {
	long := strings.Repeat("/kubepods", unix.PathMax/len("/kubepods")+1)[:unix.PathMax]
	if err := os.Mkdir(filepath.Join(t.TempDir(), long), 0o755); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Fatalf("mkdir of a path over PATH_MAX = %v, want ENAMETOOLONG", err)
	}
	if _, err := parseCgroupsPath(long[:unix.PathMax-1]); err != nil {
		t.Fatalf("cgroupsPath of %d bytes: %v", unix.PathMax-1, err)
	}
	if _, err := parseCgroupsPath(long); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), cgroupsPathField) {
		t.Fatalf("cgroupsPath of %d bytes = %v, want InvalidArgument naming %s", len(long), err, cgroupsPathField)
	}
	_, err := PodCgroupsPath(DriverCgroupfs, long, "pod1")
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), cgroupParentField) {
		t.Fatalf("cgroup parent of %d bytes = %v, want InvalidArgument naming %s", len(long), err, cgroupParentField)
	}
}

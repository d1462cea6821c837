package cgroups

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// TestKernelUnifiedValueBound shows the kernel taking a unified value of
// maxUnifiedValue bytes in one write and refusing one byte more, and
// validation drawing the line at the same place, so an over-long value is
// InvalidArgument naming the field instead of a write error.
func TestKernelUnifiedValueBound(t *testing.T) {
	m := testCgroup(t, realHierarchy(t, MissingError))
	const key = "cgroup.max.depth"
	fits := strings.Repeat(" ", maxUnifiedValue-len("max")) + "max"
	tooLong := " " + fits
	if err := validateUnified(key, fits); err != nil {
		t.Fatalf("validateUnified of a %d-byte value: %v", len(fits), err)
	}
	if err := writeFile(m.Path(), key, fits); err != nil {
		t.Fatalf("kernel refuses a %d-byte value: %v", len(fits), err)
	}
	if err := writeFile(m.Path(), key, tooLong); !errors.Is(err, unix.E2BIG) {
		t.Fatalf("kernel answers a %d-byte value with %v, want E2BIG", len(tooLong), err)
	}
	err := validateUnified(key, tooLong)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "linux.resources.unified[cgroup.max.depth]") {
		t.Fatalf("validateUnified of a %d-byte value = %v, want InvalidArgument naming linux.resources.unified[cgroup.max.depth]", len(tooLong), err)
	}
}

package cgroups

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestParseMissingPolicy(t *testing.T) {
	for in, want := range map[string]MissingPolicy{"": MissingError, "error": MissingError, "warn": MissingWarn} {
		got, err := ParseMissingPolicy(in)
		if err != nil || got != want {
			t.Errorf("ParseMissingPolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), in)
		}
	}
	var fe *errdefs.FieldError
	if _, err := ParseMissingPolicy("ignore"); !errors.As(err, &fe) || fe.Field != "cgroup.missing_controller" {
		t.Errorf("ParseMissingPolicy(ignore) = %v, want a field error for cgroup.missing_controller", err)
	}
}

func TestHierarchyControllers(t *testing.T) {
	ft := newFakeTree(t, MissingWarn, "pids", "cpu", "memory")
	if got := ft.h.Available(); !slices.Equal(got, []string{"cpu", "memory", "pids"}) {
		t.Errorf("Available() = %v, want sorted cpu memory pids", got)
	}
	if !ft.h.Has("memory") || ft.h.Has("hugetlb") {
		t.Error("Has() disagrees with cgroup.controllers")
	}
	if ft.h.MissingPolicy() != MissingWarn || ft.h.Mount() != ft.root {
		t.Errorf("MissingPolicy %v Mount %q", ft.h.MissingPolicy(), ft.h.Mount())
	}
	// Available returns a copy.
	a := ft.h.Available()
	a[0] = "x"
	if ft.h.Available()[0] != "cpu" {
		t.Error("Available() exposes internal state")
	}
}

func TestOpenHierarchyRejectsBadMounts(t *testing.T) {
	if _, err := OpenHierarchy("relative/path", MissingError); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("relative mount: %v", err)
	}
	if _, err := OpenHierarchy("/nonexistent/crisp", MissingError); err == nil {
		t.Error("missing mount accepted")
	}
	_, err := OpenHierarchy(t.TempDir(), MissingError)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "not a cgroup v2") {
		t.Errorf("tmpfs/ext4 mount: %v", err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{
		`/sys/fs/cgroup`:     "/sys/fs/cgroup",
		`/mnt/with\040space`: "/mnt/with space",
		`/mnt/tab\011x\134y`: "/mnt/tab\tx\\y",
		`/mnt/trailing\`:     `/mnt/trailing\`,
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}

package cgroups

import (
	"errors"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestParseCgroupsPath(t *testing.T) {
	tests := []struct {
		in          string
		rel         string
		unit, slice string
		wantErr     bool
	}{
		{in: "/kubepods/burstable/pod123/crisp-abc", rel: "/kubepods/burstable/pod123/crisp-abc"},
		{in: "/a//b/./c/", rel: "/a/b/c"},
		{in: "kubepods-burstable-pod123.slice:crisp:abc", rel: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice/crisp-abc.scope",
			unit: "crisp-abc.scope", slice: "kubepods-burstable-pod123.slice"},
		{in: "kubepods-burstable.slice::kubepods-burstable-pod123.slice", rel: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice",
			unit: "kubepods-burstable-pod123.slice", slice: "kubepods-burstable.slice"},
		{in: "::kubepods.slice", rel: "/kubepods.slice", unit: "kubepods.slice", slice: "-.slice"},
		{in: ":crisp:abc", rel: "/system.slice/crisp-abc.scope", unit: "crisp-abc.scope", slice: "system.slice"},
		{in: "system.slice::abc", rel: "/system.slice/abc.scope", unit: "abc.scope", slice: "system.slice"},
		{in: "", wantErr: true},
		{in: "/", wantErr: true},
		{in: "/a/../../etc", wantErr: true},
		{in: "/a/cgroup.procs", wantErr: true},
		{in: "relative/path", wantErr: true},
		{in: "a:b", wantErr: true},
		{in: "a.slice:b:c:d", wantErr: true},
		{in: "notaslice:crisp:abc", wantErr: true},
		{in: "kubepods--x.slice:crisp:abc", wantErr: true},
		{in: "a/b.slice:crisp:abc", wantErr: true},
		{in: "kubepods.slice:crisp:", wantErr: true},
		{in: "kubepods.slice:crisp:a b", wantErr: true},
		{in: "other.slice::kubepods-burstable.slice", wantErr: true},
		{in: "/a:b", wantErr: true},
	}
	for _, tt := range tests {
		loc, err := parseCgroupsPath(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseCgroupsPath(%q) = %+v, want an error", tt.in, loc)
			} else if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("parseCgroupsPath(%q) error %v is not ErrInvalidArgument", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCgroupsPath(%q): %v", tt.in, err)
			continue
		}
		if loc.rel != tt.rel || loc.unit != tt.unit || loc.slice != tt.slice {
			t.Errorf("parseCgroupsPath(%q) = %+v, want rel %q unit %q slice %q", tt.in, loc, tt.rel, tt.unit, tt.slice)
		}
	}
}

func TestExpandSlice(t *testing.T) {
	tests := map[string]string{
		"-.slice":                        "/",
		"system.slice":                   "/system.slice",
		"kubepods-besteffort-podX.slice": "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podX.slice",
	}
	for in, want := range tests {
		got, err := expandSlice(in)
		if err != nil || got != want {
			t.Errorf("expandSlice(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ".slice", "-a.slice", "a-.slice", "a--b.slice", "a.scope", "a/b.slice"} {
		if got, err := expandSlice(bad); err == nil {
			t.Errorf("expandSlice(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParentSlice(t *testing.T) {
	for in, want := range map[string]string{
		"kubepods.slice":                "-.slice",
		"kubepods-burstable.slice":      "kubepods.slice",
		"kubepods-burstable-pod1.slice": "kubepods-burstable.slice",
	} {
		if got := parentSlice(in); got != want {
			t.Errorf("parentSlice(%q) = %q, want %q", in, got, want)
		}
	}
}

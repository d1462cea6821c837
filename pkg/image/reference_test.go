package image

import (
	"errors"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest"},
		{"quay.io/org/app", "quay.io/org/app:latest"},
		{"127.0.0.1:5000/app:v2", "127.0.0.1:5000/app:v2"},
		{"localhost/app", "localhost/app:latest"},
		{"busybox@sha256:" + hex64, "docker.io/library/busybox@sha256:" + hex64},
	}
	for _, tt := range tests {
		got, err := ParseReference(tt.in)
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseReference(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "a b", "busybox:", "busybox@sha256:short", ":tag"} {
		if _, err := ParseReference(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseReference(%q) = %v, want invalid argument", bad, err)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestPullReferencePrefersDigest(t *testing.T) {
	got, err := pullReference("busybox:1.36@sha256:" + hex64)
	if err != nil || got.String() != "docker.io/library/busybox@sha256:"+hex64 {
		t.Fatalf("pullReference = %v, %v", got, err)
	}
}

func TestLooksLikeID(t *testing.T) {
	tests := []struct {
		in   string
		id   string
		isID bool
	}{
		{hex64, hex64, true},
		{"sha256:" + hex64, hex64, true},
		{"0123456789ab", "0123456789ab", true},
		{"busybox", "", false},
		{"ab", "", false},
		{"sha256:xyz", "", false},
	}
	for _, tt := range tests {
		id, ok := looksLikeID(tt.in)
		if ok != tt.isID || id != tt.id {
			t.Errorf("looksLikeID(%q) = %q, %v", tt.in, id, ok)
		}
	}
}

func TestPinned(t *testing.T) {
	pins := normalizePins([]string{"pause:3.10", "registry.example/infra/*"})
	tests := []struct {
		names []string
		want  bool
	}{
		{[]string{"docker.io/library/pause:3.10"}, true},
		{[]string{"docker.io/library/pause:3.9"}, false},
		{[]string{"registry.example/infra/dns:1"}, true},
		{[]string{"registry.example/apps/web:1", "registry.example/infra/proxy:2"}, true},
		{nil, false},
	}
	for _, tt := range tests {
		if got := matchesPinned(pins, tt.names); got != tt.want {
			t.Errorf("matchesPinned(%v) = %v, want %v", tt.names, got, tt.want)
		}
	}
}

func TestImageUser(t *testing.T) {
	tests := []struct {
		user string
		uid  int64
		hasU bool
		name string
	}{
		{"", 0, false, ""},
		{"0", 0, true, ""},
		{"1000", 1000, true, ""},
		{"1000:50", 1000, true, ""},
		{"www-data", 0, false, "www-data"},
		{"www-data:www-data", 0, false, "www-data"},
		{":50", 0, false, ""},
	}
	for _, tt := range tests {
		uid, name := imageUser(tt.user)
		if (uid != nil) != tt.hasU || (uid != nil && *uid != tt.uid) || name != tt.name {
			t.Errorf("imageUser(%q) = %v, %q", tt.user, uid, name)
		}
	}
}

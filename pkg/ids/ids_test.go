package ids

import (
	"errors"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestNew(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New()
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Errorf("New() = %q then %q, want two different 64-digit hex ids", a, b)
	}
}

func TestResolve(t *testing.T) {
	m := map[string]int{"abc123": 1, "abd456": 2, "abc": 3}
	for _, tc := range []struct {
		id, want string
		err      error
		says     string
	}{
		{"abc123", "abc123", nil, ""},
		{"abc", "abc", nil, ""}, // a whole id wins over the prefix it is of another
		{"abd", "abd456", nil, ""},
		{"ab", "", errdefs.ErrInvalidArgument, `container_id: "ab" matches more than one container`},
		{"x", "", errdefs.ErrNotFound, `container "x"`},
		{"", "", errdefs.ErrNotFound, `container ""`},
	} {
		got, err := Resolve(m, tc.id, "container", "container_id")
		if got != tc.want || !errors.Is(err, tc.err) && (err != nil || tc.err != nil) || err != nil && !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v saying %q", tc.id, got, err, tc.want, tc.err, tc.says)
		}
	}
}

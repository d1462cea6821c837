package ids

import (
	"errors"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// FuzzResolve feeds id prefixes, as a CRI request carries them, to the
// resolution against a set of ids (the newline-separated keys). The answer
// agrees with a plain count of the keys the prefix matches: a whole id
// names itself, one match names that key, several are InvalidArgument
// naming the field, none (or an empty prefix) NotFound.
func FuzzResolve(f *testing.F) {
	f.Add("abc123\nabd456\nabc", "abc")
	f.Add("abc123\nabd456\nabc", "ab")
	f.Add("abc123\nabd456\nabc", "abd")
	f.Add("abc123\nabd456", "")
	f.Add("", "")
	f.Add("\nabc", "")
	f.Add("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "0123")
	f.Add("abc", "abcd")
	f.Fuzz(func(t *testing.T, keys, id string) {
		m := map[string]struct{}{}
		for _, k := range strings.Split(keys, "\n") {
			m[k] = struct{}{}
		}
		var matches []string
		for k := range m {
			if id != "" && strings.HasPrefix(k, id) {
				matches = append(matches, k)
			}
		}
		_, whole := m[id]
		got, err := Resolve(m, id, "container", "container_id")
		switch {
		case whole:
			if err != nil || got != id {
				t.Fatalf("Resolve(%q) = %q, %v; want the whole id", id, got, err)
			}
		case len(matches) == 1:
			if err != nil || got != matches[0] {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", id, got, err, matches[0])
			}
		case len(matches) > 1:
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "container_id") {
				t.Fatalf("Resolve(%q) = %q, %v; want InvalidArgument naming container_id for %d matches", id, got, err, len(matches))
			}
		default:
			if !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("Resolve(%q) = %q, %v; want NotFound", id, got, err)
			}
		}
	})
}

package image

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"go.podman.io/image/v5/docker/reference"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// maxReferenceLen bounds an accepted reference: a 255-byte name, a ":" and
// 128-byte tag, and an "@" and sha512 digest.
const maxReferenceLen = 255 + 1 + 128 + 1 + len("sha512:") + 128

// FuzzParseReference feeds CRI image references to the parser every image
// call goes through. An accepted reference is bounded, holds no NUL, space
// or control character, and normalises to a canonical form that re-parses
// to itself, as does its familiar short form; a pinned reference matches
// the image it names. A refused one is InvalidArgument.
func FuzzParseReference(f *testing.F) {
	for _, seed := range []string{
		"busybox", "busybox:1.36", "library/busybox", "docker.io/library/busybox:latest",
		"quay.io/org/app", "127.0.0.1:5000/app:v2", "[::1]:5000/app:v2", "localhost/app",
		"busybox@sha256:" + hex64, "busybox:1.36@sha256:" + hex64, "registry.k8s.io/pause:3.10",
		"", "UPPER/case", "a b", "busybox:", "busybox@sha256:short", ":tag", hex64, "sha256:" + hex64,
		"busybox\x00", "busybox\n", "a/" + strings.Repeat("b", 300), "app:" + strings.Repeat("t", 129),
		"Docker.IO/library/busybox", "busybox@sha512:" + hex64 + hex64,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if id, ok := looksLikeID(ref); ok {
			if len(id) < 3 || len(id) > 64 || strings.Trim(id, "0123456789abcdef") != "" {
				t.Errorf("looksLikeID(%q) = %q, not 3 to 64 lowercase hex digits", ref, id)
			}
		}
		named, err := ParseReference(ref)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ParseReference(%q) = %v, not InvalidArgument", ref, err)
			}
			return
		}
		if len(ref) > maxReferenceLen {
			t.Errorf("ParseReference accepts a %d-byte reference", len(ref))
		}
		if i := strings.IndexFunc(ref, func(r rune) bool { return r == 0 || unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
			t.Errorf("ParseReference(%q) accepts %q", ref, ref[i])
		}
		canonical := named.String()
		if len(canonical) > maxReferenceLen {
			t.Errorf("ParseReference(%q) = %d bytes, longer than any reference", ref, len(canonical))
		}
		if _, tagged := named.(reference.Tagged); !tagged {
			if _, digested := named.(reference.Digested); !digested {
				t.Errorf("ParseReference(%q) = %q has neither tag nor digest", ref, canonical)
			}
		}
		for _, form := range []string{canonical, reference.FamiliarString(named)} {
			again, err := ParseReference(form)
			if err != nil {
				t.Fatalf("ParseReference(%q) = %q, which is refused: %v", ref, form, err)
			}
			if again.String() != canonical {
				t.Fatalf("ParseReference(%q) = %q, which re-parses to %q", ref, form, again.String())
			}
		}
		pull, err := pullReference(ref)
		if err != nil {
			t.Fatalf("pullReference(%q): %v after ParseReference accepted it", ref, err)
		}
		_, tagged := pull.(reference.Tagged)
		_, digested := pull.(reference.Digested)
		if tagged == digested {
			t.Errorf("pullReference(%q) = %q: want a tag or a digest, not both or neither", ref, pull)
		}
		if again, err := ParseReference(pull.String()); err != nil || again.String() != pull.String() {
			t.Errorf("pullReference(%q) = %q, which re-parses to %v, %v", ref, pull, again, err)
		}
		if !matchesPinned(normalizePins([]string{ref}), []string{canonical}) {
			t.Errorf("pin %q does not match the image it names, %q", ref, canonical)
		}
	})
}

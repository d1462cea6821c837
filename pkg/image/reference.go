package image

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"go.podman.io/image/v5/docker/reference"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// idPattern matches an image ID or a unique prefix of one, as crictl prints
// them truncated. Like every pattern of crisp, it is compiled on first use:
// package initialisation is paid by every crisp process.
var idPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(sha256:)?[a-f0-9]{3,64}$`) })

// ParseReference normalises an image reference the way Docker does:
// "busybox" becomes "docker.io/library/busybox:latest"; a reference with a
// digest keeps it and gains no tag. The error names the reference and matches
// errdefs.ErrInvalidArgument.
func ParseReference(ref string) (reference.Named, error) {
	if ref == "" {
		return nil, fmt.Errorf("image reference is empty: %w", errdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	return reference.TagNameOnly(named), nil
}

// pullReference is a reference to pull: without a digest it carries a tag;
// with both, the digest wins (as Docker does) and the tag is dropped.
func pullReference(ref string) (reference.Named, error) {
	named, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if canonical, ok := named.(reference.Canonical); ok {
		if _, tagged := named.(reference.Tagged); tagged {
			return reference.WithDigest(reference.TrimNamed(named), canonical.Digest())
		}
	}
	return named, nil
}

// looksLikeID reports whether ref may be an image ID or an ID prefix, and
// returns it without the "sha256:" prefix.
func looksLikeID(ref string) (string, bool) {
	if !idPattern().MatchString(ref) {
		return "", false
	}
	return strings.TrimPrefix(ref, "sha256:"), true
}

// normalizePins writes pinned references the way images are named
// ("pause:3.10" pins docker.io/library/pause:3.10); prefixes stay as given.
func normalizePins(pins []string) []string {
	out := make([]string, 0, len(pins))
	for _, pin := range pins {
		if !strings.HasSuffix(pin, "*") {
			if named, err := ParseReference(pin); err == nil {
				pin = named.String()
			}
		}
		out = append(out, pin)
	}
	return out
}

// matchesPinned reports whether any of an image's names matches a pin.
func matchesPinned(pins, names []string) bool {
	for _, pin := range pins {
		prefix, wildcard := strings.CutSuffix(pin, "*")
		for _, name := range names {
			if name == pin || (wildcard && strings.HasPrefix(name, prefix)) {
				return true
			}
		}
	}
	return false
}

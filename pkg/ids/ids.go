// Package ids owns the ids of crisp's pods and containers: making new ones,
// and resolving the unique prefix of one that a user typed (as crictl
// allows) to the whole id.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// New returns a new id: 64 random hex digits, the form kubelet and crictl
// know from other runtimes.
func New() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Resolve returns the key of m that id names: id itself, or the one key it
// is a prefix of. kind names the objects ("container") and field the
// request field that carried id, for the errors: NotFound, or
// InvalidArgument for a prefix of several keys.
func Resolve[V any](m map[string]V, id, kind, field string) (string, error) {
	if _, ok := m[id]; ok {
		return id, nil
	}
	found := ""
	if id != "" {
		for full := range m {
			if !strings.HasPrefix(full, id) {
				continue
			}
			if found != "" {
				return "", errdefs.InvalidField(field, fmt.Sprintf("%q matches more than one %s", id, kind))
			}
			found = full
		}
	}
	if found == "" {
		return "", fmt.Errorf("%s %q: %w", kind, id, errdefs.ErrNotFound)
	}
	return found, nil
}

package transfer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// pullError names the registry of a failed pull and what failed, and
// classifies the error for the CRI layer.
func pullError(named reference.Named, err error) error {
	what, class := classifyPullError(err)
	registry := reference.Domain(named)
	if class != nil {
		return fmt.Errorf("pull %s: registry %s: %s: %w (%w)", named, registry, what, err, class)
	}
	return fmt.Errorf("pull %s: registry %s: %s: %w", named, registry, what, err)
}

// classifyPullError says in words what failed and returns the errdefs class,
// nil when none fits (the CRI layer reports those as Unknown).
func classifyPullError(err error) (string, error) {
	var unauthorized docker.ErrUnauthorizedForCredentials
	var coder errcode.ErrorCoder
	code := errcode.ErrorCodeUnknown
	if errors.As(err, &coder) {
		code = coder.ErrorCode()
	}
	var status docker.UnexpectedHTTPStatusError
	var netErr net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *x509.UnknownAuthorityError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out", errdefs.ErrDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return "cancelled", context.Canceled
	case errors.As(err, &unauthorized):
		return "authentication failed", errdefs.ErrUnauthenticated
	case code == errcode.ErrorCodeUnauthorized:
		return "authentication failed", errdefs.ErrUnauthenticated
	case code == errcode.ErrorCodeDenied:
		return "access denied", errdefs.ErrPermissionDenied
	case code == v2.ErrorCodeManifestUnknown || code == v2.ErrorCodeNameUnknown || code == v2.ErrorCodeBlobUnknown:
		return "image not found", errdefs.ErrNotFound
	case errors.As(err, &status) && status.StatusCode == http.StatusUnauthorized:
		return "authentication failed", errdefs.ErrUnauthenticated
	case errors.As(err, &status) && status.StatusCode == http.StatusForbidden:
		return "access denied", errdefs.ErrPermissionDenied
	case errors.As(err, &status) && status.StatusCode == http.StatusNotFound:
		return "image not found", errdefs.ErrNotFound
	case errors.Is(err, docker.ErrTooManyRequests):
		return "rate limited", errdefs.ErrResourceExhausted
	case errors.Is(err, errDigestMismatch), strings.Contains(err.Error(), "Digest did not match"):
		return "content does not match its digest", nil
	case strings.Contains(err.Error(), "is blocked in"):
		return "registry is blocked by registries.conf", errdefs.ErrFailedPrecondition
	case errors.As(err, &certErr):
		return "TLS certificate not trusted", errdefs.ErrUnavailable
	case errors.As(err, &dnsErr), errors.As(err, &opErr), errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &netErr) && netErr.Timeout():
		return "registry unreachable", errdefs.ErrUnavailable
	case strings.Contains(err.Error(), "manifest unknown"), strings.Contains(err.Error(), "not found"):
		return "image not found", errdefs.ErrNotFound
	}
	return "pull failed", nil
}

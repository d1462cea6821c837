package image

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Auth are registry credentials for one pull, as CRI's AuthConfig carries
// them. At most one way of authenticating should be set.
type Auth struct {
	Username string
	Password string
	// Auth is base64("username:password"), as in a Docker config file.
	Auth string
	// IdentityToken is an OAuth2 refresh token exchanged for an access token.
	IdentityToken string
	// RegistryToken is a bearer token sent to the registry as is.
	RegistryToken string
}

// Credentials returns the user name and password, decoding Auth when it is
// set.
func (a *Auth) Credentials() (user, pass string, err error) {
	user, pass = a.Username, a.Password
	if a.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return "", "", fmt.Errorf("auth: not base64: %w", errdefs.ErrInvalidArgument)
		}
		var ok bool
		user, pass, ok = strings.Cut(string(raw), ":")
		if !ok {
			return "", "", fmt.Errorf("auth: not base64 of \"username:password\": %w", errdefs.ErrInvalidArgument)
		}
	}
	return user, pass, nil
}

// fingerprint identifies the credentials without keeping them, so that only
// pulls with the same credentials share a download.
func (a *Auth) fingerprint() string {
	if a == nil {
		return ""
	}
	h := sha256.New()
	for _, f := range []string{a.Username, a.Password, a.Auth, a.IdentityToken, a.RegistryToken} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

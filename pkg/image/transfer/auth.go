package transfer

import (
	"go.podman.io/image/v5/types"

	"github.com/crisp-runtime/crisp/pkg/image"
)

// applyAuth sets the credentials of a on sys.
func applyAuth(a *image.Auth, sys *types.SystemContext) error {
	if a == nil {
		return nil
	}
	user, pass, err := a.Credentials()
	if err != nil {
		return err
	}
	if user != "" || pass != "" || a.IdentityToken != "" {
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: user, Password: pass, IdentityToken: a.IdentityToken}
	}
	sys.DockerBearerRegistryToken = a.RegistryToken
	return nil
}

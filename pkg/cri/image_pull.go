package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/image"
)

// PullImage pulls an image with the request's credentials and answers its
// image ID, which ImageStatus and container creation accept.
func (s *ImageService) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if err := checkImageRef("image.image", ref); err != nil {
		return nil, err
	}
	var auth *image.Auth
	if a := req.GetAuth(); a != nil {
		if err := checkAuth(a); err != nil {
			return nil, err
		}
		auth = &image.Auth{
			Username:      a.GetUsername(),
			Password:      a.GetPassword(),
			Auth:          a.GetAuth(),
			IdentityToken: a.GetIdentityToken(),
			RegistryToken: a.GetRegistryToken(),
		}
	}
	img, err := s.images.Pull(ctx, ref, auth)
	if err != nil {
		return nil, fmt.Errorf("image.image: %w", err)
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}

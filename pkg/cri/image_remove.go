package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage removes the image the request names (ID, tag or digest) with
// all its tags. Removing an unknown image succeeds; an image a container
// uses is FailedPrecondition.
func (s *ImageService) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	if err := checkImageRef("image.image", ref); err != nil {
		return nil, err
	}
	if err := s.images.Remove(ctx, ref); err != nil {
		return nil, fmt.Errorf("image.image: %w", err)
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/image"
)

// ImageStore is what the ImageService needs from the image storage;
// *image.Store implements it.
type ImageStore interface {
	Pull(ctx context.Context, ref string, auth *image.Auth) (*image.Image, error)
	Get(ctx context.Context, ref string) (*image.Image, error)
	List(ctx context.Context, filter string) ([]*image.Image, error)
	Remove(ctx context.Context, ref string) error
	FsUsage(ctx context.Context) (*image.FsUsage, error)
}

// ImageService serves the CRI ImageService.
type ImageService struct {
	runtimeapi.UnimplementedImageServiceServer

	images ImageStore
}

// NewImageService returns the ImageService over images.
func NewImageService(images ImageStore) *ImageService {
	return &ImageService{images: images}
}

// toCRIImage describes an image as CRI does.
func toCRIImage(img *image.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Username:    img.Username,
		Spec:        &runtimeapi.ImageSpec{Image: img.ID},
		Pinned:      img.Pinned,
	}
	if img.UID != nil {
		out.Uid = &runtimeapi.Int64Value{Value: *img.UID}
	}
	return out
}

// filterImage returns the image reference of a list filter, "" for none.
func filterImage(f *runtimeapi.ImageFilter) string {
	return f.GetImage().GetImage()
}

package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/image"
)

// ImageFsInfo reports the bytes and inodes used by image layers (the image
// filesystem) and by containers' writable layers (the container
// filesystem). Both live in the same storage directory.
func (s *ImageService) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	u, err := s.images.FsUsage(ctx)
	if err != nil {
		return nil, err
	}
	usage := func(part image.Usage) *runtimeapi.FilesystemUsage {
		return &runtimeapi.FilesystemUsage{
			Timestamp:  u.Timestamp.UnixNano(),
			FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: u.Mountpoint},
			UsedBytes:  &runtimeapi.UInt64Value{Value: part.Bytes},
			InodesUsed: &runtimeapi.UInt64Value{Value: part.Inodes},
		}
	}
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems:     []*runtimeapi.FilesystemUsage{usage(u.Images)},
		ContainerFilesystems: []*runtimeapi.FilesystemUsage{usage(u.Containers)},
	}, nil
}

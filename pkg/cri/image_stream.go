package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamImages answers what ListImages does, in messages of at most
// streamBatch images; with no images it sends no message, since every
// message must carry at least one.
func (s *ImageService) StreamImages(req *runtimeapi.StreamImagesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamImagesResponse]) error {
	imgs, err := s.images.List(stream.Context(), filterImage(req.GetFilter()))
	if err != nil {
		return err
	}
	for start := 0; start < len(imgs); start += streamBatch {
		end := min(start+streamBatch, len(imgs))
		msg := &runtimeapi.StreamImagesResponse{Images: make([]*runtimeapi.Image, 0, end-start)}
		for _, img := range imgs[start:end] {
			msg.Images = append(msg.Images, toCRIImage(img))
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/version"
)

// kubeAPIVersion is the version of the kubelet–runtime API, which CRI fixes.
const kubeAPIVersion = "0.1.0"

// Version returns the runtime name, its version and the CRI API version.
func (s *RuntimeService) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           kubeAPIVersion,
		RuntimeName:       version.Name,
		RuntimeVersion:    version.Version(),
		RuntimeApiVersion: "v1",
	}, nil
}

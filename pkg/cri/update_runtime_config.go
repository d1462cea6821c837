package cri

import (
	"context"
	"net/netip"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// maxPodCIDRLen bounds the pod CIDR: two IPv6 prefixes and a comma.
const maxPodCIDRLen = 128

// UpdateRuntimeConfig keeps the node's pod CIDR that kubelet hands down. An
// empty request leaves the current value alone; a dual-stack value is a
// comma-separated pair of prefixes.
func (s *RuntimeService) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr == "" {
		return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
	}
	if err := checkText("runtime_config.network_config.pod_cidr", cidr, maxPodCIDRLen); err != nil {
		return nil, err
	}
	for _, p := range strings.Split(cidr, ",") {
		if _, err := netip.ParsePrefix(strings.TrimSpace(p)); err != nil {
			return nil, errdefs.InvalidField("runtime_config.network_config.pod_cidr", err.Error())
		}
	}
	s.mu.Lock()
	old := s.podCIDR
	s.podCIDR = cidr
	s.mu.Unlock()
	if old != cidr {
		klog.InfoS("Pod CIDR updated", "podCIDR", cidr, "previous", old)
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}

package cri

import (
	"context"
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// Reasons reported with false conditions, as kubelet and crictl show them.
const (
	reasonNetworkPluginNotReady = "NetworkPluginNotReady"
)

// Status reports the RuntimeReady and NetworkReady conditions and the
// runtime's features. NetworkReady is false until a usable CNI configuration
// exists. Verbose adds the effective configuration as JSON.
func (s *RuntimeService) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	runtimeReady := &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true}
	networkReady := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.network.Status(); err != nil {
		networkReady.Status = false
		networkReady.Reason = reasonNetworkPluginNotReady
		networkReady.Message = fmt.Sprintf("network plugin is not ready: %v", err)
	}
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{runtimeReady, networkReady}},
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{
			Name: "",
			Features: &runtimeapi.RuntimeHandlerFeatures{
				RecursiveReadOnlyMounts: oci.RecursiveMountAttrsSupported(),
				UserNamespaces:          s.userNamespaces() == nil,
			},
		}},
		// Containers honour supplemental_groups_policy (Merge and Strict)
		// and report the identity they run as in ContainerStatus.user.
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if req.GetVerbose() {
		info, err := s.statusInfo()
		if err != nil {
			return nil, err
		}
		resp.Info = info
	}
	return resp, nil
}

func (s *RuntimeService) statusInfo() (map[string]string, error) {
	cfg, err := json.Marshal(s.config)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	s.mu.Lock()
	cidr := s.podCIDR
	s.mu.Unlock()
	network, err := json.Marshal(map[string]string{"podCIDR": cidr})
	if err != nil {
		return nil, fmt.Errorf("encode network info: %w", err)
	}
	info := map[string]string{
		"config":       string(cfg),
		"cgroupDriver": fmt.Sprintf("%q", s.config.EffectiveCgroupDriver()),
		"network":      string(network),
		// Whether containers can be confined (crictl info shows it).
		"apparmor": fmt.Sprintf(`{"enabled":%t}`, apparmor.NewHost().Enabled()),
	}
	if s.cgroups != nil {
		cg, err := json.Marshal(map[string]any{
			"mount":              s.cgroups.Mount(),
			"controllers":        s.cgroups.Available(),
			"missingController":  s.config.Cgroup.MissingController,
			"skippedControllers": s.cgroups.Skipped(),
		})
		if err != nil {
			return nil, fmt.Errorf("encode cgroup info: %w", err)
		}
		info["cgroup"] = string(cg)
	}
	return info, nil
}

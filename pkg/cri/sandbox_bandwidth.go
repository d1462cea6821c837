package cri

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// Pod annotations kubelet passes for traffic shaping, as the CNI bandwidth
// plugin reads them through the runtime.
const (
	ingressBandwidthAnnotation = "kubernetes.io/ingress-bandwidth"
	egressBandwidthAnnotation  = "kubernetes.io/egress-bandwidth"
)

// Bounds kubelet enforces on these annotations: 1 kbit/s to 1 Pbit/s.
var (
	minBandwidth = resource.MustParse("1k")
	maxBandwidth = resource.MustParse("1P")
)

// sandboxBandwidth reads the pod's bandwidth annotations (bits per second,
// Kubernetes quantities such as "10M").
func sandboxBandwidth(annotations map[string]string) (*sandbox.Bandwidth, error) {
	ingress, err := bandwidthAnnotation(annotations, ingressBandwidthAnnotation)
	if err != nil {
		return nil, err
	}
	egress, err := bandwidthAnnotation(annotations, egressBandwidthAnnotation)
	if err != nil {
		return nil, err
	}
	if ingress == 0 && egress == 0 {
		return nil, nil
	}
	return &sandbox.Bandwidth{IngressRate: ingress, EgressRate: egress}, nil
}

func bandwidthAnnotation(annotations map[string]string, key string) (uint64, error) {
	v, ok := annotations[key]
	if !ok {
		return 0, nil
	}
	field := "config.annotations[" + key + "]"
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, errdefs.InvalidField(field, fmt.Sprintf("%q is not a quantity: %v", v, err))
	}
	if q.Cmp(minBandwidth) < 0 || q.Cmp(maxBandwidth) > 0 {
		return 0, errdefs.InvalidField(field, fmt.Sprintf("%s is outside 1k..1P bits per second", v))
	}
	return uint64(q.Value()), nil
}

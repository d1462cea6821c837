package cri

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// A pod's stats carry those of its running containers, where kubelet's
// PodAndContainerStatsFromCRI reads them, and its network's.
func TestPodSandboxStatsCarryTheirContainers(t *testing.T) {
	c := newMetricsService(t, metricsPods{pods: []*sandbox.Sandbox{testPod("pod1"), testPod("pod2")}})
	ctx := background(t)
	l, err := c.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*runtimeapi.PodSandboxStats{}
	for _, st := range l.Stats {
		byID[st.Attributes.Id] = st
	}
	pod1, pod2 := byID["pod1"], byID["pod2"]
	if pod1 == nil || pod2 == nil {
		t.Fatalf("ListPodSandboxStats = %v, want pod1 and pod2", l.Stats)
	}
	ctrs := pod1.Linux.GetContainers()
	if len(ctrs) != 1 || ctrs[0].Attributes.Id != "aaa1" || ctrs[0].Cpu.GetUsageCoreNanoSeconds().GetValue() != 7_500_000_000 ||
		ctrs[0].Memory.GetWorkingSetBytes().GetValue() != 8<<20 {
		t.Errorf("pod1 containers = %v, want aaa1 with its CPU and memory", ctrs)
	}
	if n := len(pod2.Linux.GetContainers()); n != 0 {
		t.Errorf("pod2 has %d containers, want none (its only container exited)", n)
	}
	if pod1.Linux.GetNetwork().GetDefaultInterface().GetRxBytes().GetValue() != 1000 {
		t.Errorf("pod1 network = %v", pod1.Linux.GetNetwork())
	}
	one, err := c.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: "pod1"})
	if err != nil || len(one.Stats.Linux.GetContainers()) != 1 {
		t.Errorf("PodSandboxStats(pod1) = %v, %v; want aaa1's stats in it", one, err)
	}
}

package cri

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// metricsPods knows a set of pods whose stats are a full sample; pods
// named in gone have lost their cgroup.
type metricsPods struct {
	streamPods
	pods []*sandbox.Sandbox
	gone map[string]bool
}

func (p metricsPods) List() []*sandbox.Sandbox { return p.pods }

func (p metricsPods) Get(id string) (*sandbox.Sandbox, error) {
	for _, sb := range p.pods {
		if sb.ID == id {
			return sb, nil
		}
	}
	return nil, fmt.Errorf("pod sandbox %s: %w", id, errdefs.ErrNotFound)
}

func (p metricsPods) Stats(id string) (*sandbox.Stats, error) {
	if p.gone[id] {
		return nil, fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	return &sandbox.Stats{
		Cgroup:     fullCgroupSample(),
		CgroupName: "/kubepods/pod-" + id,
		Interfaces: []network.InterfaceStats{{Name: "eth0", RxBytes: 1000, RxPackets: 10, RxDropped: 1, TxBytes: 2000, TxPackets: 20, TxErrors: 2}},
	}, nil
}

func (p metricsPods) ProcessStats(id string) (*cgroups.ProcessStats, error) {
	return &cgroups.ProcessStats{Processes: 3, Threads: 5, FileDescriptors: 9, Sockets: 2}, nil
}

// fullCgroupSample has every section a cgroup with all controllers, PSI
// and swap accounting gives.
func fullCgroupSample() *cgroups.Stats {
	p := &cgroups.Pressure{Some: cgroups.PressureData{TotalUsec: 4_000_000}, Full: cgroups.PressureData{TotalUsec: 1_000_000}}
	return &cgroups.Stats{
		Timestamp: time.Unix(1000, 0),
		CPU:       cgroups.CPUStats{UsageUsec: 7_500_000, UserUsec: 5_000_000, SystemUsec: 2_500_000, NrPeriods: 40, NrThrottled: 4, ThrottledUsec: 3_000_000},
		CPULimits: &cgroups.CPULimits{Weight: 100, QuotaUsec: 20000, PeriodUsec: 100000},
		Memory: &cgroups.MemoryStats{
			Usage: 10 << 20, Limit: 64 << 20, Peak: 12 << 20, WorkingSet: 8 << 20, RSS: 4 << 20,
			PageFaults: 77, MajorPageFaults: 3, SwapUsage: 4096, SwapLimit: cgroups.Max, SwapAccounted: true,
			Stat:   map[string]uint64{"anon": 4 << 20, "file": 6 << 20, "file_mapped": 1 << 20, "kernel": 512 << 10},
			Events: cgroups.MemoryEvents{Max: 2, OOMKill: 1},
		},
		Pids:           &cgroups.PidsStats{Current: 5, Limit: cgroups.Max},
		IO:             []cgroups.IODeviceStats{{Major: 4095, Minor: 4095, ReadBytes: 100, WriteBytes: 200, ReadIOs: 1, WriteIOs: 2}},
		CPUPressure:    p,
		MemoryPressure: p,
		IOPressure:     p,
	}
}

func newMetricsService(t *testing.T, pods metricsPods) runtimeapi.RuntimeServiceClient {
	t.Helper()
	f, _ := newContainerService(t)
	f.stats = func() *container.Stats {
		return &container.Stats{
			Cgroup:        fullCgroupSample(),
			CgroupName:    "/kubepods/pod-pod1/aaa1",
			WritableLayer: image.Usage{Bytes: 8192, Inodes: 12},
			Timestamp:     time.Unix(1000, 0),
		}
	}
	f.filesystem = &image.Capacity{Device: "/dev/vda1", Bytes: 1 << 30, AvailableBytes: 1 << 29, Inodes: 65536, FreeInodes: 60000}
	f.byID["aaa1"].Image = "busybox:1.36"
	return serve(t, NewRuntimeService(config.Default(), RuntimeDeps{Network: networkStatus{}, Containers: f, Sandboxes: pods}))
}

func testPod(id string) *sandbox.Sandbox {
	return &sandbox.Sandbox{ID: id, State: sandbox.StateReady, CreatedAt: time.Unix(500, 0),
		Spec: sandbox.Spec{Metadata: sandbox.Metadata{Name: "web-" + id, Namespace: "ns1", UID: "uid-" + id}}}
}

// series finds the one series of name whose label values are labels.
func series(t *testing.T, ms []*runtimeapi.Metric, name string, labels ...string) *runtimeapi.Metric {
	t.Helper()
	for _, m := range ms {
		if m.Name == name && slices.Equal(m.LabelValues, labels) {
			return m
		}
	}
	t.Errorf("no series %s%q", name, labels)
	return &runtimeapi.Metric{Value: &runtimeapi.UInt64Value{}}
}

func TestMetricDescriptorsNameCAdvisorsMetrics(t *testing.T) {
	c := newMetricsService(t, metricsPods{})
	r, err := c.ListMetricDescriptors(background(t), &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*runtimeapi.MetricDescriptor{}
	for _, d := range r.Descriptors {
		if byName[d.Name] != nil {
			t.Errorf("descriptor %s listed twice", d.Name)
		}
		byName[d.Name] = d
		if d.Help == "" || !slices.Equal(d.LabelKeys[:len(baseLabelKeys)], baseLabelKeys) {
			t.Errorf("descriptor %+v: want help and the base label keys first", d)
		}
	}
	// What kubelet's cAdvisor dashboards chart most.
	for name, keys := range map[string][]string{
		"container_cpu_usage_seconds_total":     baseLabelKeys,
		"container_memory_working_set_bytes":    baseLabelKeys,
		"container_network_receive_bytes_total": append(slices.Clone(baseLabelKeys), "interface"),
		"container_fs_usage_bytes":              append(slices.Clone(baseLabelKeys), "device"),
		"container_blkio_device_usage_total":    append(slices.Clone(baseLabelKeys), "device", "major", "minor", "operation"),
		"container_processes":                   baseLabelKeys,
	} {
		if d := byName[name]; d == nil || !slices.Equal(d.LabelKeys, keys) {
			t.Errorf("descriptor %s = %+v, want label keys %q", name, d, keys)
		}
	}
}

// Every described metric has a series for a pod with a running container
// on a host with every controller, with as many label values as keys, and
// the values are the sample's in cAdvisor's units.
func TestListPodSandboxMetrics(t *testing.T) {
	c := newMetricsService(t, metricsPods{pods: []*sandbox.Sandbox{testPod("pod1"), testPod("pod2")}, gone: map[string]bool{"pod2": true}})
	ctx := background(t)
	descs, err := c.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.PodMetrics) != 1 || r.PodMetrics[0].PodSandboxId != "pod1" {
		t.Fatalf("PodMetrics = %v, want pod1 alone (pod2's cgroup is gone)", r.PodMetrics)
	}
	pm := r.PodMetrics[0]
	if len(pm.ContainerMetrics) != 1 || pm.ContainerMetrics[0].ContainerId != "aaa1" {
		t.Fatalf("ContainerMetrics = %v, want the running aaa1 alone", pm.ContainerMetrics)
	}
	all := append(slices.Clone(pm.Metrics), pm.ContainerMetrics[0].Metrics...)
	keys := map[string]int{}
	for _, d := range descs.Descriptors {
		keys[d.Name] = len(d.LabelKeys)
	}
	seen := map[string]bool{}
	for _, m := range all {
		n, ok := keys[m.Name]
		if !ok || len(m.LabelValues) != n {
			t.Errorf("series %s%q: %d label values, descriptor has %d keys (described: %v)", m.Name, m.LabelValues, len(m.LabelValues), n, ok)
		}
		seen[m.Name] = true
	}
	for name := range keys {
		if !seen[name] {
			t.Errorf("described metric %s has no series", name)
		}
	}

	ctr := []string{"web", "/kubepods/pod-pod1/aaa1", "busybox:1.36", "aaa1", "ns1", "web-pod1"}
	pod := []string{"", "/kubepods/pod-pod1", "", "pod1", "ns1", "web-pod1"}
	cm := pm.ContainerMetrics[0].Metrics
	for _, tc := range []struct {
		m    *runtimeapi.Metric
		want uint64
		typ  runtimeapi.MetricType
	}{
		{series(t, cm, "container_cpu_usage_seconds_total", ctr...), 7, counter},
		{series(t, cm, "container_cpu_cfs_throttled_seconds_total", ctr...), 3, counter},
		{series(t, cm, "container_spec_cpu_shares", ctr...), 1024, gauge},
		{series(t, cm, "container_spec_cpu_quota", ctr...), 20000, gauge},
		{series(t, cm, "container_memory_working_set_bytes", ctr...), 8 << 20, gauge},
		{series(t, cm, "container_memory_cache", ctr...), 6 << 20, gauge},
		{series(t, cm, "container_memory_max_usage_bytes", ctr...), 12 << 20, gauge},
		{series(t, cm, "container_spec_memory_limit_bytes", ctr...), 64 << 20, gauge},
		{series(t, cm, "container_spec_memory_swap_limit_bytes", ctr...), 0, gauge},
		{series(t, cm, "container_memory_failures_total", append(slices.Clone(ctr), "pgmajfault", "hierarchy")...), 3, counter},
		{series(t, cm, "container_oom_events_total", ctr...), 1, counter},
		{series(t, cm, "container_processes", ctr...), 2, gauge},
		{series(t, cm, "container_sockets", ctr...), 1, gauge},
		{series(t, cm, "container_threads_max", ctr...), 0, gauge},
		{series(t, cm, "container_fs_usage_bytes", append(slices.Clone(ctr), "/dev/vda1")...), 8192, gauge},
		{series(t, cm, "container_fs_inodes_free", append(slices.Clone(ctr), "/dev/vda1")...), 60000, gauge},
		{series(t, cm, "container_fs_writes_bytes_total", append(slices.Clone(ctr), "4095:4095")...), 200, counter},
		{series(t, cm, "container_blkio_device_usage_total", append(slices.Clone(ctr), "4095:4095", "4095", "4095", "Read")...), 100, counter},
		{series(t, cm, "container_pressure_io_stalled_seconds_total", ctr...), 1, counter},
		{series(t, cm, "container_start_time_seconds", ctr...), 2, gauge},
		{series(t, cm, "container_last_seen", ctr...), 1000, gauge},
		{series(t, pm.Metrics, "container_network_receive_bytes_total", append(slices.Clone(pod), "eth0")...), 1000, counter},
		{series(t, pm.Metrics, "container_network_transmit_errors_total", append(slices.Clone(pod), "eth0")...), 2, counter},
		{series(t, pm.Metrics, "container_processes", pod...), 3, gauge},
		{series(t, pm.Metrics, "container_start_time_seconds", pod...), 500, gauge},
	} {
		if tc.m.GetValue().GetValue() != tc.want || tc.m.MetricType != tc.typ || tc.m.Timestamp != 0 {
			t.Errorf("%s%q = %d (%v, timestamp %d), want %d (%v, live)", tc.m.Name, tc.m.LabelValues, tc.m.GetValue().GetValue(), tc.m.MetricType, tc.m.Timestamp, tc.want, tc.typ)
		}
	}
	// A container has no network series of its own (its traffic is its
	// pod's), and a pod no writable layer.
	for _, m := range cm {
		if m.Name == "container_network_receive_bytes_total" {
			t.Errorf("container series %s%q", m.Name, m.LabelValues)
		}
	}
	for _, m := range pm.Metrics {
		if m.Name == "container_fs_usage_bytes" {
			t.Errorf("pod series %s%q", m.Name, m.LabelValues)
		}
	}
}

// Without controllers (a hybrid host's cgroup2 mount), only what cpu.stat
// and the processes give is reported: nothing is invented.
func TestPodMetricsLeaveOutWhatTheHostLacks(t *testing.T) {
	s := &metricSample{
		labels: []string{"", "/p", "", "pod1", "ns", "web"},
		cgroup: &cgroups.Stats{Timestamp: time.Unix(1000, 0), CPU: cgroups.CPUStats{UsageUsec: 2_000_000}},
	}
	var names []string
	for _, m := range s.metrics() {
		names = append(names, m.Name)
	}
	want := []string{"container_cpu_usage_seconds_total", "container_cpu_user_seconds_total", "container_cpu_system_seconds_total", "container_last_seen"}
	if !slices.Equal(names, want) {
		t.Errorf("series = %q, want %q", names, want)
	}
}

// StreamPodSandboxMetrics sends every pod exactly once, in batches of at
// most streamBatch, and nothing for no pods.
func TestStreamPodSandboxMetrics(t *testing.T) {
	for _, n := range []int{0, 1, streamBatch, 2*streamBatch + 50} {
		var pods []*sandbox.Sandbox
		for i := range n {
			pods = append(pods, testPod(fmt.Sprintf("pod%d", i)))
		}
		c := newMetricsService(t, metricsPods{pods: pods})
		stream, err := c.StreamPodSandboxMetrics(background(t), &runtimeapi.StreamPodSandboxMetricsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		msgs := 0
		for {
			r, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%d pods: %v", n, err)
			}
			msgs++
			if len(r.PodSandboxMetrics) == 0 || len(r.PodSandboxMetrics) > streamBatch {
				t.Errorf("%d pods: a message of %d pods", n, len(r.PodSandboxMetrics))
			}
			for _, pm := range r.PodSandboxMetrics {
				got[pm.PodSandboxId]++
			}
		}
		if len(got) != n || msgs != (n+streamBatch-1)/streamBatch {
			t.Errorf("%d pods: %d distinct pods in %d messages", n, len(got), msgs)
		}
		for id, k := range got {
			if k != 1 {
				t.Errorf("%d pods: %s sent %d times", n, id, k)
			}
		}
	}
}

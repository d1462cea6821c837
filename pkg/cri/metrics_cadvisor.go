package cri

import (
	"strconv"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/network"
)

// The CRI metrics (ListMetricDescriptors, ListPodSandboxMetrics) carry the
// names, label keys and types cAdvisor gives the same figures, so that
// kubelet's /metrics/cadvisor reads the same whether it is fed by cAdvisor
// or, under the PodAndContainerStatsFromCRI feature gate, by crisp. One
// table below names each metric and says how its values come from a
// sample; the descriptors and the values are both built from it.

// baseLabelKeys label every metric as kubelet labels cAdvisor's: container
// (the CRI name; empty for the pod's own cgroup), id (the cgroup's path
// below the hierarchy's mount), image, name (the CRI id), and the pod's
// namespace and name.
var baseLabelKeys = []string{"container", "id", "image", "name", "namespace", "pod"}

// metricSample is what one pod's or one container's metrics are built
// from. Sections that are nil are left out.
type metricSample struct {
	// labels are the values of baseLabelKeys.
	labels []string
	cgroup *cgroups.Stats
	procs  *cgroups.ProcessStats
	// started is the container's start, or the pod's creation.
	started time.Time
	// layer and fs are a container's writable layer and the filesystem
	// that holds it; nil for a pod.
	layer *image.Usage
	fs    *image.Capacity
	// ifaces are the pod's network interfaces; none for a container,
	// whose traffic is its pod's.
	ifaces []network.InterfaceStats
}

// metricDef is one cAdvisor metric: its descriptor, and how its values come
// out of a sample. emit calls add once per series, giving the values of
// extraKeys in their order.
type metricDef struct {
	name, help string
	typ        runtimeapi.MetricType
	extraKeys  []string
	emit       func(s *metricSample, add func(v uint64, extra ...string))
}

const (
	counter = runtimeapi.MetricType_COUNTER
	gauge   = runtimeapi.MetricType_GAUGE
)

// usecToSeconds converts cgroup microseconds to the whole seconds the CRI
// metric's integer value can carry.
func usecToSeconds(usec uint64) uint64 { return usec / 1_000_000 }

// limit reports an unlimited cgroup value as 0, as cAdvisor does.
func limit(v uint64) uint64 {
	if v == cgroups.Max {
		return 0
	}
	return v
}

func cpuMetric(name, help string, typ runtimeapi.MetricType, value func(*cgroups.Stats) uint64) metricDef {
	return metricDef{name: name, help: help, typ: typ, emit: func(s *metricSample, add func(uint64, ...string)) {
		if s.cgroup != nil {
			add(value(s.cgroup))
		}
	}}
}

// cpuLimitMetric is a metric of the cpu controller, absent without it.
func cpuLimitMetric(name, help string, typ runtimeapi.MetricType, value func(*cgroups.Stats) (uint64, bool)) metricDef {
	return metricDef{name: name, help: help, typ: typ, emit: func(s *metricSample, add func(uint64, ...string)) {
		if s.cgroup != nil && s.cgroup.CPULimits != nil {
			if v, ok := value(s.cgroup); ok {
				add(v)
			}
		}
	}}
}

// memoryMetric is a metric of the memory controller; ok false leaves the
// series out (a memory.stat key the kernel lacks).
func memoryMetric(name, help string, typ runtimeapi.MetricType, value func(*cgroups.MemoryStats) (uint64, bool)) metricDef {
	return metricDef{name: name, help: help, typ: typ, emit: func(s *metricSample, add func(uint64, ...string)) {
		if s.cgroup != nil && s.cgroup.Memory != nil {
			if v, ok := value(s.cgroup.Memory); ok {
				add(v)
			}
		}
	}}
}

func memoryStatKey(key string) func(*cgroups.MemoryStats) (uint64, bool) {
	return func(m *cgroups.MemoryStats) (uint64, bool) {
		v, ok := m.Stat[key]
		return v, ok
	}
}

func processMetric(name, help string, value func(*cgroups.ProcessStats) uint64) metricDef {
	return metricDef{name: name, help: help, typ: gauge, emit: func(s *metricSample, add func(uint64, ...string)) {
		if s.procs != nil {
			add(value(s.procs))
		}
	}}
}

// ioMetric is a per-device figure of io.stat.
func ioMetric(name, help string, value func(cgroups.IODeviceStats) uint64) metricDef {
	return metricDef{name: name, help: help, typ: counter, extraKeys: []string{"device"}, emit: func(s *metricSample, add func(uint64, ...string)) {
		if s.cgroup == nil {
			return
		}
		for _, d := range s.cgroup.IO {
			add(value(d), d.DeviceName())
		}
	}}
}

// fsMetric is a figure of the filesystem holding a container's writable
// layer.
func fsMetric(name, help string, typ runtimeapi.MetricType, value func(*metricSample) uint64) metricDef {
	return metricDef{name: name, help: help, typ: typ, extraKeys: []string{"device"}, emit: func(s *metricSample, add func(uint64, ...string)) {
		if s.fs != nil && s.layer != nil {
			add(value(s), s.fs.Device)
		}
	}}
}

func netMetric(name, help string, value func(network.InterfaceStats) uint64) metricDef {
	return metricDef{name: name, help: help, typ: counter, extraKeys: []string{"interface"}, emit: func(s *metricSample, add func(uint64, ...string)) {
		for _, i := range s.ifaces {
			add(value(i), i.Name)
		}
	}}
}

// pressureMetric is a PSI total; full selects the "full" line (all tasks
// stalled) over the "some" line (some tasks waiting).
func pressureMetric(name, help string, pick func(*cgroups.Stats) *cgroups.Pressure, full bool) metricDef {
	return metricDef{name: name, help: help, typ: counter, emit: func(s *metricSample, add func(uint64, ...string)) {
		if s.cgroup == nil {
			return
		}
		p := pick(s.cgroup)
		if p == nil {
			return
		}
		d := p.Some
		if full {
			d = p.Full
		}
		add(usecToSeconds(d.TotalUsec))
	}}
}

// cadvisorMetrics is every metric crisp reports, in the order the
// descriptors list them.
var cadvisorMetrics = []metricDef{
	cpuMetric("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", counter,
		func(s *cgroups.Stats) uint64 { return usecToSeconds(s.CPU.UsageUsec) }),
	cpuMetric("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", counter,
		func(s *cgroups.Stats) uint64 { return usecToSeconds(s.CPU.UserUsec) }),
	cpuMetric("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", counter,
		func(s *cgroups.Stats) uint64 { return usecToSeconds(s.CPU.SystemUsec) }),
	cpuLimitMetric("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", counter,
		func(s *cgroups.Stats) (uint64, bool) { return s.CPU.NrPeriods, true }),
	cpuLimitMetric("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", counter,
		func(s *cgroups.Stats) (uint64, bool) { return s.CPU.NrThrottled, true }),
	cpuLimitMetric("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", counter,
		func(s *cgroups.Stats) (uint64, bool) { return usecToSeconds(s.CPU.ThrottledUsec), true }),
	// The shares kubelet asked for, from the weight crisp converted them to.
	cpuLimitMetric("container_spec_cpu_shares", "CPU share of the container.", gauge,
		func(s *cgroups.Stats) (uint64, bool) { return cgroups.CPUWeightToShares(s.CPULimits.Weight), true }),
	cpuLimitMetric("container_spec_cpu_period", "CPU period of the container.", gauge,
		func(s *cgroups.Stats) (uint64, bool) { return s.CPULimits.PeriodUsec, true }),
	cpuLimitMetric("container_spec_cpu_quota", "CPU quota of the container.", gauge,
		func(s *cgroups.Stats) (uint64, bool) {
			return s.CPULimits.QuotaUsec, s.CPULimits.QuotaUsec != cgroups.Max
		}),

	memoryMetric("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", gauge,
		func(m *cgroups.MemoryStats) (uint64, bool) { return m.Usage, true }),
	memoryMetric("container_memory_working_set_bytes", "Current working set in bytes.", gauge,
		func(m *cgroups.MemoryStats) (uint64, bool) { return m.WorkingSet, true }),
	memoryMetric("container_memory_rss", "Size of RSS in bytes.", gauge, memoryStatKey("anon")),
	memoryMetric("container_memory_cache", "Number of bytes of page cache memory.", gauge, memoryStatKey("file")),
	memoryMetric("container_memory_mapped_file", "Size of memory mapped files in bytes.", gauge, memoryStatKey("file_mapped")),
	memoryMetric("container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", gauge, memoryStatKey("kernel")),
	memoryMetric("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes.", gauge,
		func(m *cgroups.MemoryStats) (uint64, bool) { return m.Peak, m.Peak > 0 }),
	memoryMetric("container_memory_failcnt", "Number of memory usage hits limits.", counter,
		func(m *cgroups.MemoryStats) (uint64, bool) { return m.Events.Max, true }),
	memoryMetric("container_memory_swap", "Container swap usage in bytes.", gauge,
		func(m *cgroups.MemoryStats) (uint64, bool) { return m.SwapUsage, m.SwapAccounted }),
	memoryMetric("container_oom_events_total", "Count of out of memory events observed for the container.", counter,
		func(m *cgroups.MemoryStats) (uint64, bool) { return m.Events.OOMKill, true }),
	memoryMetric("container_spec_memory_limit_bytes", "Memory limit for the container.", gauge,
		func(m *cgroups.MemoryStats) (uint64, bool) { return limit(m.Limit), true }),
	memoryMetric("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", gauge,
		func(m *cgroups.MemoryStats) (uint64, bool) { return limit(m.SwapLimit), m.SwapAccounted }),
	{
		// cgroup v2's memory.stat covers the whole subtree: the
		// hierarchy scope.
		name: "container_memory_failures_total", help: "Cumulative count of memory allocation failures.", typ: counter,
		extraKeys: []string{"failure_type", "scope"},
		emit: func(s *metricSample, add func(uint64, ...string)) {
			if s.cgroup == nil || s.cgroup.Memory == nil {
				return
			}
			add(s.cgroup.Memory.PageFaults, "pgfault", "hierarchy")
			add(s.cgroup.Memory.MajorPageFaults, "pgmajfault", "hierarchy")
		},
	},

	processMetric("container_processes", "Number of processes running inside the container.",
		func(p *cgroups.ProcessStats) uint64 { return p.Processes }),
	processMetric("container_threads", "Number of threads running inside the container.",
		func(p *cgroups.ProcessStats) uint64 { return p.Threads }),
	processMetric("container_file_descriptors", "Number of open file descriptors for the container.",
		func(p *cgroups.ProcessStats) uint64 { return p.FileDescriptors }),
	processMetric("container_sockets", "Number of open sockets for the container.",
		func(p *cgroups.ProcessStats) uint64 { return p.Sockets }),
	{
		name: "container_threads_max", help: "Maximum number of threads allowed inside the container, zero for no limit.", typ: gauge,
		emit: func(s *metricSample, add func(uint64, ...string)) {
			if s.cgroup != nil && s.cgroup.Pids != nil {
				add(limit(s.cgroup.Pids.Limit))
			}
		},
	},

	ioMetric("container_fs_reads_bytes_total", "Cumulative count of bytes read.",
		func(d cgroups.IODeviceStats) uint64 { return d.ReadBytes }),
	ioMetric("container_fs_writes_bytes_total", "Cumulative count of bytes written.",
		func(d cgroups.IODeviceStats) uint64 { return d.WriteBytes }),
	ioMetric("container_fs_reads_total", "Cumulative count of reads completed.",
		func(d cgroups.IODeviceStats) uint64 { return d.ReadIOs }),
	ioMetric("container_fs_writes_total", "Cumulative count of writes completed.",
		func(d cgroups.IODeviceStats) uint64 { return d.WriteIOs }),
	{
		name: "container_blkio_device_usage_total", help: "Blkio device bytes usage.", typ: counter,
		extraKeys: []string{"device", "major", "minor", "operation"},
		emit: func(s *metricSample, add func(uint64, ...string)) {
			if s.cgroup == nil {
				return
			}
			for _, d := range s.cgroup.IO {
				name, maj, minor := d.DeviceName(), strconv.FormatUint(uint64(d.Major), 10), strconv.FormatUint(uint64(d.Minor), 10)
				add(d.ReadBytes, name, maj, minor, "Read")
				add(d.WriteBytes, name, maj, minor, "Write")
			}
		},
	},

	fsMetric("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", gauge,
		func(s *metricSample) uint64 { return s.layer.Bytes }),
	fsMetric("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", gauge,
		func(s *metricSample) uint64 { return s.fs.Bytes }),
	fsMetric("container_fs_inodes_total", "Number of Inodes.", gauge,
		func(s *metricSample) uint64 { return s.fs.Inodes }),
	fsMetric("container_fs_inodes_free", "Number of available Inodes.", gauge,
		func(s *metricSample) uint64 { return s.fs.FreeInodes }),

	netMetric("container_network_receive_bytes_total", "Cumulative count of bytes received.",
		func(i network.InterfaceStats) uint64 { return i.RxBytes }),
	netMetric("container_network_receive_packets_total", "Cumulative count of packets received.",
		func(i network.InterfaceStats) uint64 { return i.RxPackets }),
	netMetric("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.",
		func(i network.InterfaceStats) uint64 { return i.RxErrors }),
	netMetric("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.",
		func(i network.InterfaceStats) uint64 { return i.RxDropped }),
	netMetric("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.",
		func(i network.InterfaceStats) uint64 { return i.TxBytes }),
	netMetric("container_network_transmit_packets_total", "Cumulative count of packets transmitted.",
		func(i network.InterfaceStats) uint64 { return i.TxPackets }),
	netMetric("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.",
		func(i network.InterfaceStats) uint64 { return i.TxErrors }),
	netMetric("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.",
		func(i network.InterfaceStats) uint64 { return i.TxDropped }),

	pressureMetric("container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.",
		func(s *cgroups.Stats) *cgroups.Pressure { return s.CPUPressure }, false),
	pressureMetric("container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.",
		func(s *cgroups.Stats) *cgroups.Pressure { return s.CPUPressure }, true),
	pressureMetric("container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.",
		func(s *cgroups.Stats) *cgroups.Pressure { return s.MemoryPressure }, false),
	pressureMetric("container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.",
		func(s *cgroups.Stats) *cgroups.Pressure { return s.MemoryPressure }, true),
	pressureMetric("container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.",
		func(s *cgroups.Stats) *cgroups.Pressure { return s.IOPressure }, false),
	pressureMetric("container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.",
		func(s *cgroups.Stats) *cgroups.Pressure { return s.IOPressure }, true),

	{
		name: "container_start_time_seconds", help: "Start time of the container since unix epoch in seconds.", typ: gauge,
		emit: func(s *metricSample, add func(uint64, ...string)) {
			if !s.started.IsZero() {
				add(uint64(max(s.started.Unix(), 0)))
			}
		},
	},
	{
		name: "container_last_seen", help: "Last time a container was seen by the exporter.", typ: gauge,
		emit: func(s *metricSample, add func(uint64, ...string)) {
			if s.cgroup != nil {
				add(uint64(max(s.cgroup.Timestamp.Unix(), 0)))
			}
		},
	},
}

// metricDescriptors describes every metric of cadvisorMetrics.
func metricDescriptors() []*runtimeapi.MetricDescriptor {
	out := make([]*runtimeapi.MetricDescriptor, 0, len(cadvisorMetrics))
	for _, d := range cadvisorMetrics {
		keys := append(append([]string(nil), baseLabelKeys...), d.extraKeys...)
		out = append(out, &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: keys})
	}
	return out
}

// metrics builds every series the sample has data for. Timestamp stays 0:
// the values are read live, at the call.
func (s *metricSample) metrics() []*runtimeapi.Metric {
	var out []*runtimeapi.Metric
	for _, d := range cadvisorMetrics {
		d.emit(s, func(v uint64, extra ...string) {
			values := make([]string, 0, len(s.labels)+len(extra))
			out = append(out, &runtimeapi.Metric{
				Name:        d.name,
				MetricType:  d.typ,
				LabelValues: append(append(values, s.labels...), extra...),
				Value:       &runtimeapi.UInt64Value{Value: v},
			})
		})
	}
	return out
}

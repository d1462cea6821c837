package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespace prefixes every metric crisp defines.
const namespace = "crisp"

// Metrics is the daemon's registry and the metrics it records into.
type Metrics struct {
	reg *prometheus.Registry

	rpcDuration  *prometheus.HistogramVec
	rpcErrors    *prometheus.CounterVec
	pullBytes    prometheus.Counter
	pullDuration *prometheus.HistogramVec
	startLatency *prometheus.HistogramVec
	cniDuration  *prometheus.HistogramVec
}

// New returns a registry holding crisp's metrics and the Go runtime's and
// process's collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "grpc", Name: "request_duration_seconds",
			Help:    "Time crisp took to answer a CRI call, by service and method; for a server-streaming call, the life of the stream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 17), // 0.5 ms to 33 s
		}, []string{"service", "method"}),
		rpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "grpc", Name: "errors_total",
			Help: "CRI calls that failed, by service, method and gRPC status code.",
		}, []string{"service", "method", "code"}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "image", Name: "pull_bytes_total",
			Help: "Bytes of image blobs downloaded from registries.",
		}),
		pullDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "image", Name: "pull_duration_seconds",
			Help:    "Time an image pull from a registry took, by result (success or failure).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14), // 50 ms to 7 min
		}, []string{"result"}),
		startLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "container", Name: "start_duration_seconds",
			Help:    "Time from a container start request to its process running (or failing to), by result.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms to 16 s
		}, []string{"result"}),
		cniDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "cni", Name: "duration_seconds",
			Help:    "Time a CNI operation on a pod's network took, by operation (ADD, DEL, CHECK) and result.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"operation", "result"}),
	}
	m.reg.MustRegister(
		m.rpcDuration, m.rpcErrors, m.pullBytes, m.pullDuration, m.startLatency, m.cniDuration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry the endpoint serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func result(err error) string {
	if err != nil {
		return "failure"
	}
	return "success"
}

// ObservePull records a pull from a registry: the blob bytes it
// downloaded, however it ended, and its duration.
func (m *Metrics) ObservePull(bytes uint64, d time.Duration, err error) {
	m.pullBytes.Add(float64(bytes))
	m.pullDuration.WithLabelValues(result(err)).Observe(d.Seconds())
}

// ObserveStart records how long a container start took.
func (m *Metrics) ObserveStart(d time.Duration, err error) {
	m.startLatency.WithLabelValues(result(err)).Observe(d.Seconds())
}

// ObserveCNI records how long one CNI operation took.
func (m *Metrics) ObserveCNI(operation string, d time.Duration, err error) {
	m.cniDuration.WithLabelValues(operation, result(err)).Observe(d.Seconds())
}

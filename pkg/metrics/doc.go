// Package metrics owns crisp's Prometheus endpoint: one registry per daemon
// (never the client library's global one) holding per-RPC latency
// histograms and error counts from gRPC interceptors, pod and container
// counts by state computed at scrape time, image pull bytes and durations,
// container start latencies, CNI call latencies, and the Go runtime's and
// the process's own metrics. The packages that time these events declare
// the one-method interfaces they report through; this package implements
// them and depends on none of them.
//
// The cAdvisor-named pod and container metrics kubelet reads over CRI
// (ListPodSandboxMetrics) are not here: they are built at the CRI edge, in
// pkg/cri, from the samples pkg/sandbox and pkg/container take.
package metrics

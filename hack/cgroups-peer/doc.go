// Package peer benchmarks crisp's pkg/cgroups against the cgroup v2 manager
// runc and containerd use (github.com/opencontainers/cgroups fs2) doing the
// same work, side by side, in its own module so that crisp itself never
// depends on the peer. hack/cgroups-bench.sh runs it in the cgroup v2 guest
// and prints the ratios.
package peer

package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithDefaultPidsLimit sets pids.max to limit (from [cgroup]
// default_pids_limit) when res sets no pids limit itself. limit 0 means no
// default. res may be nil.
func WithDefaultPidsLimit(res *specs.LinuxResources, limit int64) *specs.LinuxResources {
	if limit <= 0 {
		return res
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if res.Pids == nil || res.Pids.Limit == nil {
		_, inUnified := res.Unified["pids.max"]
		if !inUnified {
			res.Pids = &specs.LinuxPids{Limit: ptrTo(limit)}
		}
	}
	return res
}

func ptrTo[T any](v T) *T { return &v }

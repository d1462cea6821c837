package cgroups

import (
	"errors"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestValidateUnified(t *testing.T) {
	valid := map[string]string{
		"memory.high":            "100M",
		"memory.max":             "max",
		"memory.swap.max":        "0",
		"memory.oom.group":       "1",
		"cpu.weight":             "100",
		"cpu.max":                "max 100000",
		"io.max":                 "8:0 rbps=1048576",
		"pids.max":               "10",
		"hugetlb.2MB.max":        "0",
		"hugetlb.1GB.rsvd.max":   "0",
		"cgroup.max.descendants": "10",
	}
	for k, v := range valid {
		if err := validateUnified(k, v); err != nil {
			t.Errorf("validateUnified(%q, %q): %v", k, v, err)
		}
	}
	invalid := map[string]string{
		"":                       "1",
		"memory.max/../x":        "1",
		"../cgroup.procs":        "1",
		"cgroup.procs":           "1",
		"cgroup.threads":         "1",
		"cgroup.subtree_control": "+cpu",
		"cgroup.type":            "threaded",
		"cgroup.freeze":          "1",
		"cgroup.kill":            "1",
		"memory.current":         "1",
		"memory.stat":            "1",
		"devices.allow":          "a",
		"memory":                 "1",
		"hugetlb.2MB.current":    "1",
		"hugetlb.2M.max":         "1",
		"memory.low":             "",
		"pids.max":               "1\x00",
	}
	for k, v := range invalid {
		err := validateUnified(k, v)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("validateUnified(%q, %q) = %v, want an invalid argument", k, v, err)
		}
	}
}

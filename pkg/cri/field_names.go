package cri

import (
	"errors"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// ociResourceFields maps the OCI names that crisp's lower layers use for a
// container's resources (linux.resources.<name>) to the CRI's names in
// LinuxContainerResources, longest first where one is a prefix of another.
var ociResourceFields = []struct{ oci, cri string }{
	{"memory.limit", "memory_limit_in_bytes"},
	{"memory.swap", "memory_swap_limit_in_bytes"},
	{"cpu.shares", "cpu_shares"},
	{"cpu.quota", "cpu_quota"},
	{"cpu.period", "cpu_period"},
	{"cpu.cpus", "cpuset_cpus"},
	{"cpu.mems", "cpuset_mems"},
	{"hugepageLimits", "hugepage_limits"},
}

// criResourceField renames an error's OCI resource field below the CRI
// field resources (config.linux.resources, or linux for an update), so the
// caller is told the field it sent.
func criResourceField(resources string, err error) error {
	var fe *errdefs.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "linux.resources.") {
		return err
	}
	rest := strings.TrimPrefix(fe.Field, "linux.resources.")
	for _, f := range ociResourceFields {
		if rest == f.oci || strings.HasPrefix(rest, f.oci+".") || strings.HasPrefix(rest, f.oci+"[") {
			rest = f.cri + strings.TrimPrefix(rest, f.oci)
			rest = strings.Replace(rest, ".pageSize", ".page_size", 1)
			break
		}
	}
	return errdefs.InvalidField(resources+"."+rest, fe.Problem)
}

package cri

import (
	"errors"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Errors of the lower layers name resources by their OCI names; the
// caller must be told the CRI field it sent.
func TestCRIResourceField(t *testing.T) {
	for _, tc := range []struct{ in, under, want string }{
		{"linux.resources.memory.limit", "linux", "linux.memory_limit_in_bytes"},
		{"linux.resources.memory.swap", "linux.resources", "linux.resources.memory_swap_limit_in_bytes"},
		{"linux.resources.cpu.shares", "linux", "linux.cpu_shares"},
		{"linux.resources.cpu.cpus", "linux", "linux.cpuset_cpus"},
		{"linux.resources.hugepageLimits[0].pageSize", "linux.resources", "linux.resources.hugepage_limits[0].page_size"},
		{"linux.resources.unified[memory.max]", "linux", "linux.unified[memory.max]"},
		{"linux.resources.oom_score_adj", "linux.resources", "linux.resources.oom_score_adj"},
	} {
		err := criResourceField(tc.under, errdefs.InvalidField(tc.in, "bad"))
		var fe *errdefs.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.want || fe.Problem != "bad" {
			t.Errorf("%s under %s: %v, want field %s", tc.in, tc.under, err, tc.want)
		}
	}
	other := errdefs.InvalidField("mounts[0].host_path", "bad")
	if criResourceField("linux", other) != other {
		t.Error("a field outside linux.resources was renamed")
	}
	plain := errors.New("plain")
	if criResourceField("linux", plain) != plain {
		t.Error("an error without a field was changed")
	}
}

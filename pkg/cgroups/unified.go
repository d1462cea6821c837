package cgroups

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// unifiedWritable lists, per controller, the interface files a unified map
// may write. Anything else, in particular cgroup.procs, cgroup.subtree_control,
// cgroup.type, cgroup.freeze and cgroup.kill, would let a pod break
// delegation or the runtime's bookkeeping.
var unifiedWritable = map[string][]string{
	"cgroup":  {"max.depth", "max.descendants"},
	"cpu":     {"weight", "weight.nice", "max", "max.burst", "idle", "uclamp.min", "uclamp.max"},
	"cpuset":  {"cpus", "mems"},
	"io":      {"weight", "max", "latency", "bfq.weight", "prio.class"},
	"memory":  {"low", "high", "max", "min", "swap.high", "swap.max", "zswap.max", "zswap.writeback", "oom.group"},
	"pids":    {"max"},
	"hugetlb": {},
	"rdma":    {"max"},
	"misc":    {"max"},
}

// maxUnifiedValue bounds a unified value: the kernel refuses a write to a
// cgroup interface file longer than a page (E2BIG), and 4096 is the smallest
// page Linux has, so the bound holds on every machine.
const maxUnifiedValue = 4096

// hugetlbFilePattern matches hugetlb.<size>.max and hugetlb.<size>.rsvd.max.
var hugetlbFilePattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[1-9][0-9]*[KMG]B\.(rsvd\.)?max$`)
})

// validateUnified checks one unified entry: a writable file of a known
// controller, named without any path separator, with a value the kernel can
// take in one write.
func validateUnified(key, value string) error {
	field := fmt.Sprintf("%s.unified[%s]", resourcesField, key)
	if key == "" || strings.ContainsAny(key, "/\x00") || strings.Contains(key, "..") {
		return errdefs.InvalidField(field, "key must be a cgroup interface file name without path separators")
	}
	controller, file, ok := strings.Cut(key, ".")
	files, known := unifiedWritable[controller]
	if !ok || !known {
		return errdefs.InvalidField(field, fmt.Sprintf("%q is not a file of a known cgroup v2 controller", key))
	}
	if controller == "hugetlb" {
		if !hugetlbFilePattern().MatchString(file) {
			return errdefs.InvalidField(field, "hugetlb files are hugetlb.<size>.max and hugetlb.<size>.rsvd.max")
		}
	} else if !slices.Contains(files, file) {
		if controller == "cgroup" {
			return errdefs.InvalidField(field, "writing cgroup core files other than cgroup.max.depth and cgroup.max.descendants would break delegation")
		}
		return errdefs.InvalidField(field, fmt.Sprintf("%q is not a writable %s controller file", key, controller))
	}
	if strings.ContainsRune(value, 0) || strings.TrimSpace(value) == "" {
		return errdefs.InvalidField(field, fmt.Sprintf("value %q is empty or contains NUL", value))
	}
	if len(value) > maxUnifiedValue {
		return errdefs.InvalidField(field, fmt.Sprintf("value is %d bytes; the kernel takes at most %d in one write", len(value), maxUnifiedValue))
	}
	return nil
}

// unifiedController is the controller a validated unified key belongs to;
// "" for cgroup core files, which every cgroup has.
func unifiedController(key string) string {
	c, _, _ := strings.Cut(key, ".")
	if c == "cgroup" {
		return ""
	}
	return c
}

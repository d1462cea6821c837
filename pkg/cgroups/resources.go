package cgroups

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// resourcesField prefixes the names of OCI resource fields in errors.
const resourcesField = "linux.resources"

// fileWrite is one value for one interface file.
type fileWrite struct{ file, value string }

// controllerWrites are the writes that one requested limit needs from one
// controller ("" for cgroup core files, which need none).
type controllerWrites struct {
	controller string
	what       string // the request field, for errors
	writes     []fileWrite
}

// Apply writes the limits in res into the cgroup. Unset fields leave the
// current values alone, so Apply also serves live updates. res is validated
// first, and every needed controller is checked before anything is written:
// a bad request changes nothing. A limit whose controller is not enabled in
// this cgroup fails with an error naming the controller, or is skipped under
// MissingWarn. The unified map is written last, so its entries override the
// structured fields. Device rules, when res has any, replace the cgroup's
// device BPF program; without rules the program (or its absence) stays.
func (m *Manager) Apply(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if err := ValidateResources(res); err != nil {
		return err
	}
	plan, err := planResources(res, func(file string) bool { return fileExists(m.dir, file) })
	if err != nil {
		return err
	}
	if len(plan) == 0 && len(res.Devices) == 0 {
		return nil
	}
	enabled, err := m.Controllers()
	if err != nil {
		return fmt.Errorf("apply resources: %w", err)
	}
	var writes []fileWrite
	for _, cw := range plan {
		if cw.controller != "" && !slices.Contains(enabled, cw.controller) {
			if err := m.h.missingController(cw.controller, cw.what, m.dir); err != nil {
				return err
			}
			continue
		}
		for _, w := range cw.writes {
			// The controller is enabled, so a missing file is a size, a
			// key or a feature this kernel does not have.
			if !alwaysPresent[w.file] && !fileExists(m.dir, w.file) {
				return errdefs.InvalidField(cw.what, fmt.Sprintf("this kernel has no cgroup interface file %s in %s", w.file, m.dir))
			}
		}
		writes = append(writes, cw.writes...)
	}
	// Device rules are a BPF program rather than a file write: attach it
	// before the writes, so a rule set the kernel refuses changes nothing.
	if len(res.Devices) > 0 {
		if err := m.applyDevices(res.Devices); err != nil {
			return err
		}
	}
	if m.loc.systemd() {
		if err := m.setUnitResources(res); err != nil {
			return err
		}
	}
	for _, w := range writes {
		if err := writeFile(m.dir, w.file, w.value); err != nil {
			return m.notFound(fmt.Errorf("apply resources: %w", err))
		}
	}
	return nil
}

// alwaysPresent are the files every kernel crisp supports has once their
// controller is enabled; Apply checks the existence of the others before
// writing anything.
var alwaysPresent = map[string]bool{
	"cpu.weight": true, "cpu.max": true, "cpuset.cpus": true, "cpuset.mems": true,
	"memory.max": true, "memory.low": true, "memory.high": true, "memory.min": true,
	"pids.max": true, "io.max": true,
}

// planResources turns res into per-controller file writes. exists reports
// whether an interface file exists in the cgroup, for the files that only
// some kernels or configurations have.
func planResources(res *specs.LinuxResources, exists func(string) bool) ([]controllerWrites, error) {
	var plan []controllerWrites
	add := func(controller, what string, writes ...fileWrite) {
		if len(writes) > 0 {
			plan = append(plan, controllerWrites{controller: controller, what: what, writes: writes})
		}
	}
	if c := res.CPU; c != nil {
		add("cpu", resourcesField+".cpu", cpuWrites(c)...)
		var ws []fileWrite
		if c.Cpus != "" {
			ws = append(ws, fileWrite{"cpuset.cpus", c.Cpus})
		}
		if c.Mems != "" {
			ws = append(ws, fileWrite{"cpuset.mems", c.Mems})
		}
		add("cpuset", resourcesField+".cpu.cpus", ws...)
	}
	if mem := res.Memory; mem != nil {
		ws, err := memoryWrites(mem, exists)
		if err != nil {
			return nil, err
		}
		add("memory", resourcesField+".memory", ws...)
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		v := "max"
		if *p.Limit > 0 {
			v = strconv.FormatInt(*p.Limit, 10)
		}
		add("pids", resourcesField+".pids.limit", fileWrite{"pids.max", v})
	}
	if b := res.BlockIO; b != nil {
		add("io", resourcesField+".blockIO", ioWrites(b, exists)...)
	}
	for i, hp := range res.HugepageLimits {
		field := fmt.Sprintf("%s.hugepageLimits[%d]", resourcesField, i)
		file := "hugetlb." + hp.Pagesize + ".max"
		v := strconv.FormatUint(hp.Limit, 10)
		ws := []fileWrite{{file, v}}
		if exists("hugetlb." + hp.Pagesize + ".rsvd.max") {
			ws = append(ws, fileWrite{"hugetlb." + hp.Pagesize + ".rsvd.max", v})
		}
		add("hugetlb", field+".pageSize", ws...)
	}
	for dev, r := range res.Rdma {
		v := dev
		if r.HcaHandles != nil {
			v += " hca_handle=" + strconv.FormatUint(uint64(*r.HcaHandles), 10)
		}
		if r.HcaObjects != nil {
			v += " hca_object=" + strconv.FormatUint(uint64(*r.HcaObjects), 10)
		}
		if v != dev {
			add("rdma", fmt.Sprintf("%s.rdma[%s]", resourcesField, dev), fileWrite{"rdma.max", v})
		}
	}
	for _, key := range sortedKeys(res.Unified) {
		add(unifiedController(key), fmt.Sprintf("%s.unified[%s]", resourcesField, key), fileWrite{key, res.Unified[key]})
	}
	return plan, nil
}

func cpuWrites(c *specs.LinuxCPU) []fileWrite {
	var ws []fileWrite
	if c.Shares != nil && *c.Shares != 0 {
		ws = append(ws, fileWrite{"cpu.weight", strconv.FormatUint(CPUSharesToWeight(*c.Shares), 10)})
	}
	if c.Idle != nil {
		ws = append(ws, fileWrite{"cpu.idle", strconv.FormatInt(*c.Idle, 10)})
	}
	quotaSet := c.Quota != nil && *c.Quota != 0
	periodSet := c.Period != nil && *c.Period != 0
	if quotaSet || periodSet {
		v := "max"
		if quotaSet && *c.Quota > 0 {
			v = strconv.FormatInt(*c.Quota, 10)
		}
		if periodSet {
			v += " " + strconv.FormatUint(*c.Period, 10)
		}
		ws = append(ws, fileWrite{"cpu.max", v})
	}
	if c.Burst != nil {
		ws = append(ws, fileWrite{"cpu.max.burst", strconv.FormatUint(*c.Burst, 10)})
	}
	return ws
}

func memoryWrites(mem *specs.LinuxMemory, exists func(string) bool) ([]fileWrite, error) {
	var ws []fileWrite
	limit, swap := int64(0), int64(0)
	if mem.Limit != nil {
		limit = *mem.Limit
	}
	if mem.Swap != nil {
		swap = *mem.Swap
	}
	swapMax, err := MemorySwapToV2(swap, limit)
	if err != nil {
		return nil, errdefs.InvalidField(resourcesField+".memory.swap", err.Error())
	}
	// Swap first: lowering memory.max first could push pages to a swap
	// the new limits do not allow. memory+swap equal to memory means no
	// swap at all, which is how kubelet asks for NoSwap.
	switch {
	case swapMax == 0 && swap > 0:
		if exists("memory.swap.max") {
			ws = append(ws, fileWrite{"memory.swap.max", "0"})
		}
	case swapMax != 0:
		// Without memory.max the memory controller is off here, which
		// Apply reports; with it, a missing memory.swap.max means the
		// kernel does not account swap.
		if exists("memory.swap.max") || !exists("memory.max") {
			ws = append(ws, fileWrite{"memory.swap.max", limitValue(swapMax)})
		} else if swapMax > 0 {
			return nil, errdefs.InvalidField(resourcesField+".memory.swap", "swap limit requested but the kernel has no swap accounting (no memory.swap.max)")
		}
	}
	if limit != 0 {
		ws = append(ws, fileWrite{"memory.max", limitValue(limit)})
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		ws = append(ws, fileWrite{"memory.low", limitValue(*mem.Reservation)})
	}
	return ws, nil
}

// limitValue renders a byte limit where -1 means unlimited.
func limitValue(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func ioWrites(b *specs.LinuxBlockIO, exists func(string) bool) []fileWrite {
	var ws []fileWrite
	// BFQ takes blkio weights as they are; the generic io.weight needs the
	// v2 range.
	bfq := exists("io.bfq.weight")
	weight := func(dev string, w uint16) fileWrite {
		if bfq {
			return fileWrite{"io.bfq.weight", dev + strconv.FormatUint(uint64(w), 10)}
		}
		return fileWrite{"io.weight", dev + strconv.FormatUint(BlkioWeightToIOWeight(uint64(w)), 10)}
	}
	if b.Weight != nil && *b.Weight != 0 {
		ws = append(ws, weight("default ", *b.Weight))
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil && *d.Weight != 0 {
			ws = append(ws, weight(fmt.Sprintf("%d:%d ", d.Major, d.Minor), *d.Weight))
		}
	}
	throttle := func(devs []specs.LinuxThrottleDevice, key string) {
		for _, d := range devs {
			v := "max"
			if d.Rate != 0 {
				v = strconv.FormatUint(d.Rate, 10)
			}
			ws = append(ws, fileWrite{"io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, key, v)})
		}
	}
	throttle(b.ThrottleReadBpsDevice, "rbps")
	throttle(b.ThrottleWriteBpsDevice, "wbps")
	throttle(b.ThrottleReadIOPSDevice, "riops")
	throttle(b.ThrottleWriteIOPSDevice, "wiops")
	return ws
}

// pageSizePattern is the OCI hugepage size format: "2MB", "1GB", "64KB".
var pageSizePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[1-9][0-9]*[KMG]B$`) })

// ValidateResources checks res without touching the file system, naming the
// offending field: values out of range, fields cgroup v2 has no equivalent
// for, and unified entries that are not writable controller files.
func ValidateResources(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	bad := func(field, problem string) error { return errdefs.InvalidField(resourcesField+"."+field, problem) }
	if c := res.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 && (*c.Shares < 2 || *c.Shares > 262144) {
			return bad("cpu.shares", fmt.Sprintf("%d is outside 2..262144", *c.Shares))
		}
		if c.Period != nil && *c.Period != 0 && (*c.Period < 1000 || *c.Period > 1000000) {
			return bad("cpu.period", fmt.Sprintf("%d is outside 1000..1000000 microseconds", *c.Period))
		}
		if c.Quota != nil && *c.Quota > 0 && *c.Quota < 1000 {
			return bad("cpu.quota", fmt.Sprintf("%d is below the kernel minimum of 1000 microseconds", *c.Quota))
		}
		if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
			return bad("cpu.idle", fmt.Sprintf("%d is neither 0 nor 1", *c.Idle))
		}
		if (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) || (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) {
			return bad("cpu.realtimeRuntime", "real-time CPU bandwidth has no cgroup v2 equivalent")
		}
		if err := checkCPUList(c.Cpus); err != nil {
			return bad("cpu.cpus", err.Error())
		}
		if err := checkCPUList(c.Mems); err != nil {
			return bad("cpu.mems", err.Error())
		}
	}
	if mem := res.Memory; mem != nil {
		for name, v := range map[string]*int64{"limit": mem.Limit, "reservation": mem.Reservation, "swap": mem.Swap} {
			if v != nil && *v < -1 {
				return bad("memory."+name, fmt.Sprintf("%d is negative (only -1, unlimited, is allowed)", *v))
			}
		}
		if mem.Swappiness != nil {
			return bad("memory.swappiness", "cgroup v2 has no per-cgroup swappiness")
		}
		if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
			return bad("memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer")
		}
	}
	if p := res.Pids; p != nil && p.Limit != nil && *p.Limit < -1 {
		return bad("pids.limit", fmt.Sprintf("%d is negative (only -1, unlimited, is allowed)", *p.Limit))
	}
	if b := res.BlockIO; b != nil {
		if b.Weight != nil && *b.Weight != 0 && (*b.Weight < 10 || *b.Weight > 1000) {
			return bad("blockIO.weight", fmt.Sprintf("%d is outside 10..1000", *b.Weight))
		}
		for i, d := range b.WeightDevice {
			if d.Weight != nil && *d.Weight != 0 && (*d.Weight < 10 || *d.Weight > 1000) {
				return bad(fmt.Sprintf("blockIO.weightDevice[%d].weight", i), fmt.Sprintf("%d is outside 10..1000", *d.Weight))
			}
		}
	}
	for i, hp := range res.HugepageLimits {
		if !pageSizePattern().MatchString(hp.Pagesize) {
			return bad(fmt.Sprintf("hugepageLimits[%d].pageSize", i), fmt.Sprintf("%q is not a size like 2MB or 1GB", hp.Pagesize))
		}
	}
	if n := res.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return bad("network", "net_cls and net_prio are cgroup v1 controllers; cgroup v2 has no equivalent")
	}
	for _, key := range sortedKeys(res.Unified) {
		if err := validateUnified(key, res.Unified[key]); err != nil {
			return err
		}
	}
	if _, err := compileDeviceRules(res.Devices); err != nil {
		return err
	}
	return nil
}

// cpuListPattern is the kernel's cpu/node list format: "0-3,5,7-8".
var cpuListPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
})

func checkCPUList(s string) error {
	if s == "" || cpuListPattern().MatchString(s) {
		return nil
	}
	return fmt.Errorf("%q is not a list like 0-3,5", s)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

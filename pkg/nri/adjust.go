package nri

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Bounds on what plugins may add to one container, so that a plugin cannot
// grow a spec, and the errors that echo it, without bound.
const (
	maxItems     = 1024    // env entries, mounts, devices, hooks, rlimits, annotations, args, ...
	maxString    = 1 << 16 // one key, value, path, argument or option
	maxTotalSize = 4 << 20 // all of an adjustment's strings together
)

// adjustField returns the InvalidArgument error for the adjustment's field.
func adjustField(field, msg string) error {
	return errdefs.InvalidField("NRI adjustment "+field, msg)
}

// unsupported refuses a field of the NRI protocol crisp cannot apply,
// naming it: a plugin that asks for it must not see the container run
// without it.
func unsupported(field string) error {
	return adjustField(field, "is not supported by crisp")
}

// applyAdjustment applies the plugins' adjustment a to the spec s of a
// container being made, after checking every part of it. injectCDI
// resolves CDI device names into s. On error s may be half-adjusted: the
// container is not made.
func applyAdjustment(s *specs.Spec, a *api.ContainerAdjustment, injectCDI func(*specs.Spec, []string) error) error {
	if a == nil {
		return nil
	}
	if err := checkAdjustment(a); err != nil {
		return err
	}
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	adjustAnnotations(s, a.Annotations)
	adjustEnv(s.Process, a.Env)
	if len(a.Args) > 0 {
		s.Process.Args = slices.Clone(a.Args)
	}
	adjustHooks(s, a.Hooks)
	if len(a.CDIDevices) > 0 {
		names := make([]string, 0, len(a.CDIDevices))
		for _, d := range a.CDIDevices {
			names = append(names, d.GetName())
		}
		if err := injectCDI(s, names); err != nil {
			return fmt.Errorf("NRI adjustment CDI_devices: %w", err)
		}
	}
	l := a.GetLinux()
	adjustDevices(s, l.GetDevices())
	if v := l.GetOomScoreAdj(); v != nil {
		score := int(v.GetValue())
		s.Process.OOMScoreAdj = &score
	}
	if p := l.GetSeccompPolicy(); p != nil {
		s.Linux.Seccomp = seccompToOCI(p)
	}
	for k, v := range l.GetSysctl() {
		if key, marked := api.IsMarkedForRemoval(k); marked {
			delete(s.Linux.Sysctl, key)
			continue
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		s.Linux.Sysctl[k] = v
	}
	adjustResources(s, l.GetResources())
	adjustMounts(s, a.Mounts)
	for _, rl := range a.Rlimits {
		// One limit per type: the plugin's replaces kubelet's.
		s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(o specs.POSIXRlimit) bool { return o.Type == rl.Type })
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: rl.Type, Hard: rl.Hard, Soft: rl.Soft})
	}
	return nil
}

// checkAdjustment refuses what crisp cannot apply and checks what it can,
// before anything of a is applied.
func checkAdjustment(a *api.ContainerAdjustment) error {
	l := a.GetLinux()
	r := l.GetResources()
	for field, set := range map[string]bool{
		"linux.cgroups_path": l.GetCgroupsPath() != "",
		"linux.namespaces":   len(l.GetNamespaces()) > 0,
		"linux.net_devices":  len(l.GetNetDevices()) > 0,
		"linux.scheduler":    l.GetScheduler() != nil,
		"linux.io_priority":  l.GetIoPriority() != nil,
		// The adaptation always answers with an RDT part; removing RDT a
		// crisp container never has is nothing to do.
		"linux.rdt":                                 l.GetRdt().GetClosId() != nil || l.GetRdt().GetSchemata() != nil || l.GetRdt().GetEnableMonitoring() != nil,
		"linux.memory_policy":                       l.GetMemoryPolicy() != nil,
		"linux.resources.blockio_class":             r.GetBlockioClass() != nil,
		"linux.resources.rdt_class":                 r.GetRdtClass() != nil,
		"linux.resources.cpu.realtime_runtime":      r.GetCpu().GetRealtimeRuntime() != nil,
		"linux.resources.cpu.realtime_period":       r.GetCpu().GetRealtimePeriod() != nil,
		"linux.resources.memory.kernel":             r.GetMemory().GetKernel() != nil,
		"linux.resources.memory.kernel_tcp":         r.GetMemory().GetKernelTcp() != nil,
		"linux.resources.memory.swappiness":         r.GetMemory().GetSwappiness() != nil,
		"linux.resources.memory.disable_oom_killer": r.GetMemory().GetDisableOomKiller() != nil,
		"linux.resources.memory.use_hierarchy":      r.GetMemory().GetUseHierarchy() != nil,
		"linux.seccomp_policy.listener_path":        l.GetSeccompPolicy().GetListenerPath() != "",
	} {
		if set {
			return unsupported(field)
		}
	}
	var total int
	str := func(field, v string) error {
		total += len(v)
		switch {
		case len(v) > maxString:
			return adjustField(field, fmt.Sprintf("longer than %d bytes", maxString))
		case strings.IndexByte(v, 0) >= 0:
			return adjustField(field, "contains a NUL byte")
		case total > maxTotalSize:
			return adjustField(field, fmt.Sprintf("the adjustment's strings exceed %d bytes", maxTotalSize))
		}
		return nil
	}
	count := func(field string, n int) error {
		if n > maxItems {
			return adjustField(field, fmt.Sprintf("%d entries, more than %d", n, maxItems))
		}
		return nil
	}
	for field, n := range map[string]int{
		"annotations": len(a.Annotations), "env": len(a.Env), "args": len(a.Args), "mounts": len(a.Mounts),
		"rlimits": len(a.Rlimits), "CDI_devices": len(a.CDIDevices), "linux.devices": len(l.GetDevices()),
		"linux.sysctl": len(l.GetSysctl()), "linux.resources.unified": len(r.GetUnified()),
		"linux.resources.devices": len(r.GetDevices()), "linux.resources.hugepage_limits": len(r.GetHugepageLimits()),
		"linux.seccomp_policy.syscalls": len(l.GetSeccompPolicy().GetSyscalls()),
	} {
		if err := count(field, n); err != nil {
			return err
		}
	}
	for k, v := range a.Annotations {
		if err := errOf(str("annotations key", k), str("annotations["+k+"]", v)); err != nil {
			return err
		}
		if k == "" {
			return adjustField("annotations", "empty key")
		}
	}
	for i, e := range a.Env {
		key, _ := e.IsMarkedForRemoval()
		field := fmt.Sprintf("env[%d]", i)
		if err := errOf(str(field+".key", e.Key), str(field+".value", e.Value)); err != nil {
			return err
		}
		if key == "" || strings.ContainsRune(key, '=') {
			return adjustField(field+".key", fmt.Sprintf("%q is not a variable name", key))
		}
	}
	for i, arg := range a.Args {
		if err := str(fmt.Sprintf("args[%d]", i), arg); err != nil {
			return err
		}
	}
	for i, m := range a.Mounts {
		if err := checkMount(fmt.Sprintf("mounts[%d]", i), m, str); err != nil {
			return err
		}
	}
	if err := checkHooks(a.Hooks, str); err != nil {
		return err
	}
	for i, d := range a.CDIDevices {
		if err := str(fmt.Sprintf("CDI_devices[%d].name", i), d.GetName()); err != nil {
			return err
		}
	}
	for i, d := range l.GetDevices() {
		if err := checkDevice(fmt.Sprintf("linux.devices[%d]", i), d, str); err != nil {
			return err
		}
	}
	for i, rl := range a.Rlimits {
		field := fmt.Sprintf("rlimits[%d]", i)
		if err := str(field+".type", rl.Type); err != nil {
			return err
		}
		if !strings.HasPrefix(rl.Type, "RLIMIT_") {
			return adjustField(field+".type", fmt.Sprintf("%q is not an RLIMIT_ name", rl.Type))
		}
		if rl.Soft > rl.Hard {
			return adjustField(field+".soft", "exceeds hard")
		}
	}
	if v := l.GetOomScoreAdj(); v != nil && (v.GetValue() < -1000 || v.GetValue() > 1000) {
		return adjustField("linux.oom_score_adj", fmt.Sprintf("%d is outside [-1000, 1000]", v.GetValue()))
	}
	for k, v := range l.GetSysctl() {
		if err := errOf(str("linux.sysctl key", k), str("linux.sysctl["+k+"]", v)); err != nil {
			return err
		}
	}
	for k, v := range r.GetUnified() {
		if err := errOf(str("linux.resources.unified key", k), str("linux.resources.unified["+k+"]", v)); err != nil {
			return err
		}
		// A cgroup interface file, named the way the kernel names them.
		if k == "" || strings.ContainsAny(k, "/\\") || strings.HasPrefix(k, ".") || !strings.Contains(k, ".") {
			return adjustField("linux.resources.unified", fmt.Sprintf("%q is not a cgroup interface file name", k))
		}
	}
	if c := r.GetCpu(); c != nil {
		if err := errOf(str("linux.resources.cpu.cpus", c.Cpus), str("linux.resources.cpu.mems", c.Mems)); err != nil {
			return err
		}
	}
	for i, hp := range r.GetHugepageLimits() {
		if err := str(fmt.Sprintf("linux.resources.hugepage_limits[%d].page_size", i), hp.GetPageSize()); err != nil {
			return err
		}
	}
	for i, d := range r.GetDevices() {
		field := fmt.Sprintf("linux.resources.devices[%d]", i)
		if !slices.Contains([]string{"", "a", "b", "c"}, d.Type) {
			return adjustField(field+".type", fmt.Sprintf("%q is not one of a, b, c", d.Type))
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return adjustField(field+".access", fmt.Sprintf("%q is not a combination of r, w, m", d.Access))
		}
	}
	if p := l.GetSeccompPolicy(); p != nil {
		for i, sc := range p.Syscalls {
			if err := count(fmt.Sprintf("linux.seccomp_policy.syscalls[%d].names", i), len(sc.Names)); err != nil {
				return err
			}
			for _, n := range sc.Names {
				if err := str(fmt.Sprintf("linux.seccomp_policy.syscalls[%d].names", i), n); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// errOf returns the first of errs that is not nil.
func errOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkPath checks an absolute, clean path without NULs.
func checkPath(field, p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return adjustField(field, fmt.Sprintf("%q is not an absolute, clean path", p))
	}
	return nil
}

// checkMount checks a mount a plugin adds or removes. Its destination is
// resolved inside the container's root by the executor, as a CRI mount's
// is; a bind mount's source must be a host path that exists.
func checkMount(field string, m *api.Mount, str func(string, string) error) error {
	if m == nil {
		return adjustField(field, "is empty")
	}
	dest, marked := m.IsMarkedForRemoval()
	if err := errOf(str(field+".destination", m.Destination), checkPath(field+".destination", dest)); err != nil {
		return err
	}
	if marked {
		return nil
	}
	if err := errOf(str(field+".type", m.Type), str(field+".source", m.Source)); err != nil {
		return err
	}
	if len(m.Options) > maxItems {
		return adjustField(field+".options", fmt.Sprintf("more than %d options", maxItems))
	}
	bind := m.Type == "bind" || m.Type == ""
	for _, o := range m.Options {
		if err := str(field+".options", o); err != nil {
			return err
		}
		bind = bind || o == "bind" || o == "rbind"
	}
	if bind {
		if err := checkPath(field+".source", m.Source); err != nil {
			return err
		}
		if _, err := os.Stat(m.Source); err != nil {
			return adjustField(field+".source", fmt.Sprintf("host path %q: %v", m.Source, err))
		}
	}
	return nil
}

// checkHooks checks the OCI hooks a plugin adds: programs that exist on
// the host, run by the executor as the spec's own hooks are.
func checkHooks(h *api.Hooks, str func(string, string) error) error {
	if h == nil {
		return nil
	}
	for kind, list := range map[string][]*api.Hook{
		"prestart": h.Prestart, "create_runtime": h.CreateRuntime, "create_container": h.CreateContainer,
		"start_container": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	} {
		if len(list) > maxItems {
			return adjustField("hooks."+kind, fmt.Sprintf("more than %d hooks", maxItems))
		}
		for i, hook := range list {
			field := fmt.Sprintf("hooks.%s[%d]", kind, i)
			if err := errOf(str(field+".path", hook.Path), checkPath(field+".path", hook.Path)); err != nil {
				return err
			}
			if fi, err := os.Stat(hook.Path); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
				return adjustField(field+".path", fmt.Sprintf("%q is not an executable file", hook.Path))
			}
			if len(hook.Args) > maxItems || len(hook.Env) > maxItems {
				return adjustField(field, fmt.Sprintf("more than %d arguments or variables", maxItems))
			}
			for _, s := range append(slices.Clone(hook.Args), hook.Env...) {
				if err := str(field, s); err != nil {
					return err
				}
			}
			if t := hook.Timeout; t != nil && t.GetValue() <= 0 {
				return adjustField(field+".timeout", "must be positive")
			}
		}
	}
	return nil
}

// checkDevice checks a device node a plugin adds or removes: a path
// below /dev, of a kind the kernel makes.
func checkDevice(field string, d *api.LinuxDevice, str func(string, string) error) error {
	if d == nil {
		return adjustField(field, "is empty")
	}
	path, marked := d.IsMarkedForRemoval()
	if err := errOf(str(field+".path", d.Path), checkPath(field+".path", path)); err != nil {
		return err
	}
	if !strings.HasPrefix(path, "/dev/") {
		return adjustField(field+".path", fmt.Sprintf("%q is not below /dev", path))
	}
	if marked {
		return nil
	}
	if !slices.Contains([]string{"c", "b", "u", "p"}, d.Type) {
		return adjustField(field+".type", fmt.Sprintf("%q is not one of c, b, u, p", d.Type))
	}
	return nil
}

// adjustAnnotations sets or removes the spec's annotations.
func adjustAnnotations(s *specs.Spec, annotations map[string]string) {
	for k, v := range annotations {
		if key, marked := api.IsMarkedForRemoval(k); marked {
			delete(s.Annotations, key)
			continue
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

// adjustEnv replaces, removes or appends environment variables, keeping
// the order of those it does not touch.
func adjustEnv(p *specs.Process, env []*api.KeyValue) {
	if len(env) == 0 {
		return
	}
	mod := map[string]*api.KeyValue{}
	for _, e := range env {
		key, _ := e.IsMarkedForRemoval()
		mod[key] = e
	}
	out := make([]string, 0, len(p.Env)+len(env))
	for _, kv := range p.Env {
		key, _, _ := strings.Cut(kv, "=")
		e, ok := mod[key]
		if !ok {
			out = append(out, kv)
			continue
		}
		delete(mod, key)
		if _, marked := e.IsMarkedForRemoval(); !marked {
			out = append(out, e.Key+"="+e.Value)
		}
	}
	for _, e := range env {
		if _, marked := e.IsMarkedForRemoval(); marked {
			continue
		}
		if _, ok := mod[e.Key]; ok {
			out = append(out, e.Key+"="+e.Value)
			delete(mod, e.Key)
		}
	}
	p.Env = out
}

// adjustHooks appends the plugins' hooks to the spec's.
func adjustHooks(s *specs.Spec, h *api.Hooks) {
	if h == nil {
		return
	}
	if s.Hooks == nil {
		s.Hooks = &specs.Hooks{}
	}
	add := func(dst *[]specs.Hook, src []*api.Hook) {
		for _, hook := range src {
			*dst = append(*dst, hook.ToOCI())
		}
	}
	add(&s.Hooks.Prestart, h.Prestart) //nolint:staticcheck // prestart is still part of the protocol
	add(&s.Hooks.CreateRuntime, h.CreateRuntime)
	add(&s.Hooks.CreateContainer, h.CreateContainer)
	add(&s.Hooks.StartContainer, h.StartContainer)
	add(&s.Hooks.Poststart, h.Poststart)
	add(&s.Hooks.Poststop, h.Poststop)
}

// adjustDevices adds, replaces or removes device nodes; an added node is
// allowed in the device cgroup too.
func adjustDevices(s *specs.Spec, devices []*api.LinuxDevice) {
	for _, d := range devices {
		path, marked := d.IsMarkedForRemoval()
		s.Linux.Devices = slices.DeleteFunc(s.Linux.Devices, func(o specs.LinuxDevice) bool { return o.Path == path })
		if marked {
			continue
		}
		s.Linux.Devices = append(s.Linux.Devices, d.ToOCI())
		res := resourcesOf(s)
		major, minor := d.Major, d.Minor
		res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: d.AccessString()})
	}
}

// resourcesOf returns s's resources, made if it has none.
func resourcesOf(s *specs.Spec) *specs.LinuxResources {
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	return s.Linux.Resources
}

// adjustResources sets the limits r sets; what it leaves unset stays.
func adjustResources(s *specs.Spec, r *api.LinuxResources) {
	if r == nil {
		return
	}
	res := resourcesOf(s)
	if c := r.Cpu; c != nil {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		if c.Shares != nil {
			v := c.Shares.GetValue()
			res.CPU.Shares = &v
		}
		if c.Quota != nil {
			v := c.Quota.GetValue()
			res.CPU.Quota = &v
		}
		if c.Period != nil {
			v := c.Period.GetValue()
			res.CPU.Period = &v
		}
		if c.Cpus != "" {
			res.CPU.Cpus = c.Cpus
		}
		if c.Mems != "" {
			res.CPU.Mems = c.Mems
		}
	}
	if m := r.Memory; m != nil {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		if m.Limit != nil {
			v := m.Limit.GetValue()
			res.Memory.Limit = &v
			// As containerd: a new limit without a swap limit gets no
			// swap beyond it.
			if m.Swap == nil {
				res.Memory.Swap = &v
			}
		}
		if m.Swap != nil {
			v := m.Swap.GetValue()
			res.Memory.Swap = &v
		}
		if m.Reservation != nil {
			v := m.Reservation.GetValue()
			res.Memory.Reservation = &v
		}
	}
	for _, hp := range r.HugepageLimits {
		res.HugepageLimits = slices.DeleteFunc(res.HugepageLimits, func(o specs.LinuxHugepageLimit) bool { return o.Pagesize == hp.PageSize })
		res.HugepageLimits = append(res.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: hp.PageSize, Limit: hp.Limit})
	}
	for k, v := range r.Unified {
		if res.Unified == nil {
			res.Unified = map[string]string{}
		}
		res.Unified[k] = v
	}
	if p := r.Pids; p != nil {
		v := p.GetLimit()
		res.Pids = &specs.LinuxPids{Limit: &v}
	}
	for _, d := range r.Devices {
		res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: d.Allow, Type: d.Type, Major: d.Major.Get(), Minor: d.Minor.Get(), Access: d.Access})
	}
}

// adjustMounts replaces, removes or adds mounts, then orders them so that
// a mount comes after those it is below.
func adjustMounts(s *specs.Spec, mounts []*api.Mount) {
	if len(mounts) == 0 {
		return
	}
	for _, m := range mounts {
		dest, marked := m.IsMarkedForRemoval()
		s.Mounts = slices.DeleteFunc(s.Mounts, func(o specs.Mount) bool { return filepath.Clean(o.Destination) == dest })
		if !marked {
			s.Mounts = append(s.Mounts, m.ToOCI(nil))
		}
	}
	sort.SliceStable(s.Mounts, func(i, j int) bool { return depth(s.Mounts[i].Destination) < depth(s.Mounts[j].Destination) })
}

// depth is how many components path has.
func depth(path string) int {
	return strings.Count(filepath.Clean(path), "/")
}

// seccompToOCI is the seccomp policy p in the OCI spec's form.
func seccompToOCI(p *api.LinuxSeccomp) *specs.LinuxSeccomp {
	out := &specs.LinuxSeccomp{
		DefaultAction:    specs.LinuxSeccompAction(p.DefaultAction),
		ListenerMetadata: p.ListenerMetadata,
		Syscalls:         api.ToOCILinuxSyscalls(p.Syscalls),
	}
	if e := p.DefaultErrno; e != nil {
		v := uint(e.GetValue())
		out.DefaultErrnoRet = &v
	}
	for _, a := range p.Architectures {
		out.Architectures = append(out.Architectures, specs.Arch(a))
	}
	for _, f := range p.Flags {
		out.Flags = append(out.Flags, specs.LinuxSeccompFlag(f))
	}
	return out
}

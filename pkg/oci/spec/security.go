package spec

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// defaultMaskedPaths hide kernel files that expose the host (its memory,
// keys, hardware, timers and scheduler) or let a container drive its
// hardware.
var defaultMaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
}

// defaultReadonlyPaths are kernel files a container may read but, since
// they change the whole host, not write.
var defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// applySecurity sets the process's capabilities and no_new_privs, the
// masked and read-only paths, and checks the AppArmor and SELinux
// settings. A privileged container has every capability, nothing masked
// and nothing read-only.
func applySecurity(s *specs.Spec, c *Container) error {
	sc := c.Config.GetLinux().GetSecurityContext()
	caps, err := buildCapabilities(sc)
	if err != nil {
		return err
	}
	s.Process.Capabilities = caps
	s.Process.NoNewPrivileges = sc.GetNoNewPrivs()
	if err := checkAppArmor(sc); err != nil {
		return err
	}
	if o := sc.GetSelinuxOptions(); o.GetUser()+o.GetRole()+o.GetType()+o.GetLevel() != "" {
		// SELinux is not enabled on crisp's hosts and the executor does
		// not label; containerd ignores the options on such a host too.
		klog.V(4).InfoS("Ignoring SELinux options: SELinux is not in use", "container", c.ID)
	}
	if sc.GetPrivileged() {
		return nil
	}
	// Kubelet sends its own lists (nil when it sends none, an empty list for
	// procMount: Unmasked); they replace the defaults.
	s.Linux.MaskedPaths = defaultMaskedPaths
	if sc.GetMaskedPaths() != nil {
		if s.Linux.MaskedPaths, err = containerPaths("linux.security_context.masked_paths", sc.GetMaskedPaths()); err != nil {
			return err
		}
	}
	s.Linux.ReadonlyPaths = defaultReadonlyPaths
	if sc.GetReadonlyPaths() != nil {
		if s.Linux.ReadonlyPaths, err = containerPaths("linux.security_context.readonly_paths", sc.GetReadonlyPaths()); err != nil {
			return err
		}
	}
	s.Linux.MaskedPaths = slices.Clone(s.Linux.MaskedPaths)
	s.Linux.ReadonlyPaths = slices.Clone(s.Linux.ReadonlyPaths)
	return nil
}

// containerPaths checks a list of absolute paths in the container.
func containerPaths(field string, paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			return nil, errdefs.InvalidField(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%q is not an absolute path", p))
		}
		out = append(out, filepath.Clean(p))
	}
	return out, nil
}

// checkAppArmor accepts the unconfined and the runtime's default profile
// and refuses a named one. crisp's hosts do not use AppArmor, so the
// runtime default is no profile, as for containerd on a host without
// AppArmor; a named profile could not be applied, and running the
// container without it would break the promise it makes.
func checkAppArmor(sc *runtimeapi.LinuxContainerSecurityContext) error {
	if p := sc.GetApparmor(); p != nil {
		switch p.GetProfileType() {
		case runtimeapi.SecurityProfile_Localhost:
			return errdefs.InvalidField("linux.security_context.apparmor.localhost_ref", fmt.Sprintf("AppArmor profile %q: AppArmor profiles are not supported", p.GetLocalhostRef()))
		case runtimeapi.SecurityProfile_RuntimeDefault, runtimeapi.SecurityProfile_Unconfined:
			return nil
		}
		return errdefs.InvalidField("linux.security_context.apparmor.profile_type", fmt.Sprintf("unknown profile type %d", p.GetProfileType()))
	}
	//lint:ignore SA1019 older kubelets send only the name.
	switch name := sc.GetApparmorProfile(); {
	case name == "" || name == "runtime/default" || name == "unconfined":
		return nil
	case strings.HasPrefix(name, "localhost/"):
		return errdefs.InvalidField("linux.security_context.apparmor_profile", fmt.Sprintf("AppArmor profile %q: AppArmor profiles are not supported", name))
	default:
		return errdefs.InvalidField("linux.security_context.apparmor_profile", fmt.Sprintf("%q is not runtime/default, unconfined or localhost/<profile>", name))
	}
}

package spec

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// defaultMaskedPaths hide kernel files that expose the host (its memory,
// keys, hardware, interrupts, timers and scheduler) or let a container
// drive its hardware: kubelet's defaults.
var defaultMaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
}

// defaultReadonlyPaths are kernel files a container may read but, since
// they change the whole host, not write.
var defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// applySecurity sets the process's capabilities and no_new_privs, the
// masked and read-only paths, and the AppArmor profile. A privileged container has every capability, nothing masked
// and nothing read-only.
func applySecurity(s *specs.Spec, c *Container) error {
	sc := c.Config.GetLinux().GetSecurityContext()
	caps, err := buildCapabilities(sc)
	if err != nil {
		return err
	}
	s.Process.Capabilities = caps
	s.Process.NoNewPrivileges = sc.GetNoNewPrivs()
	// SELinux labels are refused at the CRI edge (pkg/cri).
	if s.Process.ApparmorProfile, err = appArmorProfile(c, sc); err != nil {
		return err
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

// appArmorProfile returns the AppArmor profile the container's process
// runs under, "" for none:
//   - RuntimeDefault (or nothing asked for, for a container that is not
//     privileged) is crisp's default profile where the host has AppArmor,
//     and no profile where it has none, as containerd and CRI-O do;
//   - Localhost names a profile that must be loaded: on a host without
//     AppArmor, or when it is not loaded, the container is refused
//     rather than run without the confinement it asked for;
//   - Unconfined is no profile.
func appArmorProfile(c *Container, sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	const field = "linux.security_context."
	var (
		typ       runtimeapi.SecurityProfile_ProfileType
		name      string
		nameField string
		set       = true
	)
	//lint:ignore SA1019 older kubelets send only the name.
	legacy := sc.GetApparmorProfile()
	switch p := sc.GetApparmor(); {
	case p != nil:
		typ, name, nameField = p.GetProfileType(), strings.TrimPrefix(p.GetLocalhostRef(), "localhost/"), field+"apparmor.localhost_ref"
		switch typ {
		case runtimeapi.SecurityProfile_RuntimeDefault, runtimeapi.SecurityProfile_Unconfined, runtimeapi.SecurityProfile_Localhost:
		default:
			return "", errdefs.InvalidField(field+"apparmor.profile_type", fmt.Sprintf("unknown profile type %d", typ))
		}
	case legacy == "":
		set = false
	case legacy == "runtime/default":
		typ = runtimeapi.SecurityProfile_RuntimeDefault
	case legacy == "unconfined":
		typ = runtimeapi.SecurityProfile_Unconfined
	case strings.HasPrefix(legacy, "localhost/"):
		typ, name, nameField = runtimeapi.SecurityProfile_Localhost, strings.TrimPrefix(legacy, "localhost/"), field+"apparmor_profile"
	default:
		return "", errdefs.InvalidField(field+"apparmor_profile", fmt.Sprintf("%q is not runtime/default, unconfined or localhost/<profile>", legacy))
	}
	switch {
	case !set && sc.GetPrivileged():
		return "", nil
	case !set, typ == runtimeapi.SecurityProfile_RuntimeDefault:
		if c.AppArmor == nil {
			return "", nil
		}
		return apparmor.DefaultProfile, nil
	case typ == runtimeapi.SecurityProfile_Unconfined:
		return "", nil
	}
	if err := apparmor.CheckName(name); err != nil {
		return "", errdefs.InvalidField(nameField, err.Error())
	}
	if c.AppArmor == nil {
		return "", errdefs.InvalidField(nameField, fmt.Sprintf("AppArmor profile %q: AppArmor is not enabled on this host", name))
	}
	loaded, err := c.AppArmor.Loaded(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", nameField, err)
	}
	if !loaded {
		return "", errdefs.InvalidField(nameField, fmt.Sprintf("AppArmor profile %q is not loaded", name))
	}
	return name, nil
}

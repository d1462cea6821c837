package spec

import (
	"fmt"
	"path/filepath"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Pod is what a container's spec takes from its pod sandbox.
type Pod struct {
	ID, Name, Namespace, UID string // pod metadata, for annotations
	// Namespace paths to join (pinned bind mounts, or /proc/<pid>/ns/...).
	// An empty NetNS, IPCNS or UTSNS means the host's namespace (host network /
	// host IPC); the container then gets no new one of that type either.
	NetNS, IPCNS, UTSNS string
	// PIDNS is the pod's shared PID namespace (pod mode). Empty: the container
	// gets its own PID namespace, unless HostPID.
	PIDNS   string
	HostPID bool
	// UserNS is the pod's own user namespace to join, with the maps it was
	// made with; empty: the host's. The container's rootfs and volumes are
	// then idmapped mounts, so that the pod's root owns what the host's
	// root owns.
	UserNS                   string
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	// Files the pod provides; empty means none. Bind-mounted at /etc/resolv.conf,
	// /etc/hosts, /etc/hostname (read-only when the container's rootfs is read-only,
	// as containerd does), and ShmDir at /dev/shm (a pod-wide tmpfs). With an
	// empty ShmDir the container gets a private 64 MiB tmpfs /dev/shm, or the host's
	// /dev/shm when IPCNS is empty (host IPC).
	ResolvConf, Hosts, Hostname, ShmDir string
	// Privileged is the pod's security_context.privileged: a privileged
	// container requires it.
	Privileged bool
}

// AppArmor is what the spec needs of the host's AppArmor (pkg/apparmor).
type AppArmor interface {
	// Loaded reports whether a profile called name is loaded.
	Loaded(name string) (bool, error)
}

// Container is everything the spec is built from.
type Container struct {
	ID     string
	Config *runtimeapi.ContainerConfig
	Pod    Pod
	// Image is the image's OCI config (entrypoint, cmd, env, working dir, user,
	// stop signal); may be nil.
	Image     *imgspecv1.ImageConfig
	ImageRef  string // the image ID the container runs, for annotations
	ImageName string // config.image.image as the user gave it, for annotations
	// Rootfs is the mounted container rootfs on the host (absolute). /etc/passwd
	// and /etc/group inside it resolve user and group names; they are opened
	// inside the root, so no symlink in the image leads outside it.
	Rootfs string
	// CgroupsPath is the OCI linux.cgroupsPath of the container (already made
	// for the driver in use).
	CgroupsPath string
	// TargetPIDNS is the PID namespace path of the target container when
	// config.linux.security_context.namespace_options.pid is TARGET.
	TargetPIDNS string
	// DefaultPidsLimit applies when the container sets no pids limit; 0 = none.
	DefaultPidsLimit int64
	// AppArmor is the host's AppArmor; nil when the host has none.
	AppArmor AppArmor
	// RecursiveReadOnly says the executor can make a mount read-only with
	// every mount below it (mounts[].recursive_read_only); without it such
	// a mount is refused.
	RecursiveReadOnly bool
	// ImageVolumes are the host paths of the image volumes in
	// config.mounts, by their index there: each an image's file system
	// (or the sub path asked for in it), mounted by the caller.
	ImageVolumes map[int]string
}

// Build returns the OCI spec of c, or an error naming the offending CRI field
// (errdefs.InvalidField, e.g. "linux.security_context.capabilities.add_capabilities[2]").
// Features crisp does not have yet (per-mount id mappings, say) are
// errdefs.ErrNotImplemented.
func Build(c *Container) (*specs.Spec, error) {
	if c == nil || c.Config == nil {
		return nil, errdefs.InvalidField("config", "must be set")
	}
	if !filepath.IsAbs(c.Rootfs) {
		return nil, fmt.Errorf("container %s: rootfs %q is not an absolute path: %w", c.ID, c.Rootfs, errdefs.ErrInvalidArgument)
	}
	sc := c.Config.GetLinux().GetSecurityContext()
	privileged := sc.GetPrivileged()
	if privileged && !c.Pod.Privileged {
		return nil, errdefs.InvalidField("linux.security_context.privileged", "the pod sandbox is not privileged")
	}
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: c.Rootfs, Readonly: sc.GetReadonlyRootfs()},
		Linux:   &specs.Linux{CgroupsPath: c.CgroupsPath},
	}
	var err error
	if s.Process, err = buildProcess(c); err != nil {
		return nil, err
	}
	if s.Linux.Namespaces, err = buildNamespaces(c); err != nil {
		return nil, err
	}
	if s.Mounts, s.Linux.RootfsPropagation, err = buildMounts(c); err != nil {
		return nil, err
	}
	// config.cdi_devices are the caller's to inject (pkg/container):
	// they are resolved in the host's CDI spec directories.
	devices, rules, err := buildDevices(c.Config.GetDevices(), privileged)
	if err != nil {
		return nil, err
	}
	s.Linux.Devices = devices
	if err := applySecurity(s, c); err != nil {
		return nil, err
	}
	// The default seccomp profile depends on the final capabilities.
	if s.Linux.Seccomp, err = buildSeccomp(s, sc); err != nil {
		return nil, err
	}
	if s.Linux.Resources, err = buildResources(c, rules); err != nil {
		return nil, err
	}
	s.Annotations = buildAnnotations(c)
	applyUserNamespace(s, c)
	return s, nil
}

// Package sandbox owns pod sandboxes: pause-less pods whose network, IPC and
// UTS namespaces are created once and pinned by bind mounts, with a pod
// cgroup under the parent kubelet gives, DNS and hosts files, namespaced
// sysctls, CNI networking and, only for pods that share a PID namespace, a
// minimal reaper process. Every pod's record is stored before any kernel
// object is made, so a restarted daemon finds every pod, including one a
// crash left half-made, and can finish or undo it; what a pod whose record
// was lost left in the daemon's state directory (pins, reaper, files) is
// removed too.
//
// Removing a pod always completes once the kernel lets go of its parts,
// whatever failed before. The one exception is CNI DEL for a pod that a
// successful ADD attached and whose network namespace lives: only DEL
// releases its address, so removal fails and is retried until DEL works.
package sandbox

import (
	"net/netip"
	"time"

	"github.com/crisp-runtime/crisp/pkg/network"
)

// State is a pod sandbox's lifecycle state.
type State string

// Sandbox states. Creating is only ever seen after a crash during Run.
const (
	StateCreating State = "creating"
	StateReady    State = "ready"
	StateNotReady State = "notready"
)

// NamespaceMode says whose namespace a pod uses, as CRI's NamespaceMode.
type NamespaceMode string

// Namespace modes.
const (
	ModePod       NamespaceMode = "pod"       // the pod's own, shared by its containers
	ModeContainer NamespaceMode = "container" // each container its own (PID only)
	ModeNode      NamespaceMode = "node"      // the host's
)

// Metadata identifies a pod to kubelet.
type Metadata struct {
	Name      string `json:"name"`
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Attempt   uint32 `json:"attempt"`
}

// Bandwidth limits a pod's traffic, in bits per second; zero is unlimited.
type Bandwidth struct {
	IngressRate uint64 `json:"ingressRate,omitempty"`
	EgressRate  uint64 `json:"egressRate,omitempty"`
}

// Spec is what a pod is asked to be, already validated by the caller.
type Spec struct {
	Metadata       Metadata              `json:"metadata"`
	Hostname       string                `json:"hostname,omitempty"`
	LogDirectory   string                `json:"logDirectory,omitempty"`
	DNS            *network.DNS          `json:"dns,omitempty"`
	PortMappings   []network.PortMapping `json:"portMappings,omitempty"`
	Bandwidth      *Bandwidth            `json:"bandwidth,omitempty"`
	Labels         map[string]string     `json:"labels,omitempty"`
	Annotations    map[string]string     `json:"annotations,omitempty"`
	RuntimeHandler string                `json:"runtimeHandler,omitempty"`
	CgroupParent   string                `json:"cgroupParent,omitempty"`
	Sysctls        map[string]string     `json:"sysctls,omitempty"`
	// Privileged allows the pod's containers to be privileged.
	Privileged  bool          `json:"privileged,omitempty"`
	NetworkMode NamespaceMode `json:"networkMode"`
	IPCMode     NamespaceMode `json:"ipcMode"`
	PIDMode     NamespaceMode `json:"pidMode"`
	// UserNS, when set, gives the pod a user namespace of its own that
	// owns its network, IPC and UTS namespaces; nil is the host's.
	UserNS *UserNamespace `json:"userNS,omitempty"`
}

// Sandbox is a pod sandbox's persistent record.
type Sandbox struct {
	ID        string    `json:"id"`
	Spec      Spec      `json:"spec"`
	State     State     `json:"state"`
	CreatedAt time.Time `json:"createdAt"`
	// BootID is the kernel boot the pod was made in; pins do not survive a
	// reboot, so a pod from an earlier boot is not ready.
	BootID string `json:"bootID"`
	// Namespaces maps a kind to its pinned path; absent means the host's.
	Namespaces map[NamespaceKind]string `json:"namespaces,omitempty"`
	// Reaper holds a shared PID namespace; zero when the pod has none. It
	// lives in ReaperCgroup, below the pod's cgroup.
	Reaper       ReaperProcess `json:"reaper,omitzero"`
	ReaperCgroup string        `json:"reaperCgroup,omitempty"`
	// Cgroup is the pod's cgroup in OCI cgroupsPath form; CgroupOwned says
	// crisp made it (rather than kubelet) and so removes it.
	Cgroup      string `json:"cgroup,omitempty"`
	CgroupOwned bool   `json:"cgroupOwned,omitempty"`
	// Dir holds the pod's files: resolv.conf, hosts, hostname, shm.
	Dir string `json:"dir"`
	// Shm is the pod's /dev/shm tmpfs (Dir/shm); empty for a pod on the
	// host's IPC namespace, whose containers use the host's /dev/shm.
	Shm string       `json:"shm,omitempty"`
	IPs []netip.Addr `json:"ips,omitempty"`
	// NetworkAttached records that CNI ADD may have run, so teardown knows
	// to run DEL. A failed DEL keeps it set only for a pod a successful ADD
	// gave IPs whose network namespace is still pinned (Manager.detach).
	NetworkAttached bool `json:"networkAttached,omitempty"`
}

// ReaperProcess identifies the shared PID namespace holder. StartTime (from
// /proc/<pid>/stat) tells it apart from a later process reusing the pid.
type ReaperProcess struct {
	PID       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"startTime,omitempty"`
}

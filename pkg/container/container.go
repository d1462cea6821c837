package container

import (
	"maps"
	"slices"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// State is a container's lifecycle state, as CRI's ContainerState.
type State string

// Container states. Creating is only ever seen in the store, after a crash
// during Create; a restarted daemon undoes such containers.
const (
	StateCreating State = "creating"
	StateCreated  State = "created"
	StateRunning  State = "running"
	StateExited   State = "exited"
	StateUnknown  State = "unknown"
)

// CRI returns the state as ContainerStatus reports it; a container still
// being created is unknown to kubelet.
func (s State) CRI() runtimeapi.ContainerState {
	switch s {
	case StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case StateRunning:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case StateExited:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

// Exit reasons, as containerd reports them in ContainerStatus.reason.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
	ReasonCannotRun = "ContainerCannotRun"
	ReasonUnknown   = "Unknown"
)

// Metadata identifies a container within its pod to kubelet.
type Metadata struct {
	Name    string `json:"name"`
	Attempt uint32 `json:"attempt"`
}

// User is the identity a container's process runs as.
type User struct {
	UID                int64   `json:"uid"`
	GID                int64   `json:"gid"`
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
}

// CRI returns the user as ContainerStatus reports it; nil stays nil.
func (u *User) CRI() *runtimeapi.ContainerUser {
	if u == nil {
		return nil
	}
	return &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{
		Uid: u.UID, Gid: u.GID, SupplementalGroups: slices.Clone(u.SupplementalGroups),
	}}
}

// Container is a container's persistent record: everything ContainerStatus
// and ListContainers report, and what undoing it needs.
type Container struct {
	ID       string   `json:"id"`
	PodID    string   `json:"podID"`
	Metadata Metadata `json:"metadata"`
	// Name is the name the container reserves in its pod,
	// <name>_<pod name>_<pod namespace>_<pod uid>_<attempt>.
	Name string `json:"name"`
	// Image is config.image.image as kubelet gave it; ImageID the stored
	// image it resolved to; ImageRef a repo digest of that image if it has
	// one, else its ID.
	Image       string            `json:"image"`
	ImageID     string            `json:"imageID"`
	ImageRef    string            `json:"imageRef"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// LogPath is the absolute CRI log file; empty when the container has
	// none.
	LogPath   string     `json:"logPath,omitempty"`
	Mounts    []Mount    `json:"mounts,omitempty"`
	Resources *Resources `json:"resources,omitempty"`
	User      *User      `json:"user,omitempty"`
	// StopSignal is the signal Stop sends first, by name ("SIGTERM").
	StopSignal string `json:"stopSignal"`

	State      State     `json:"state"`
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	ExitCode   int32     `json:"exitCode"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	// Pid is the container's init in the host's PID namespace while it is
	// created or running; zero once it exited.
	Pid int `json:"pid,omitempty"`

	// Restored is set on a container made from a checkpoint.
	Restored *Restored `json:"restored,omitempty"`

	// Bundle is the OCI bundle directory; CgroupsPath the container's
	// cgroup in OCI form.
	Bundle      string `json:"bundle"`
	CgroupsPath string `json:"cgroupsPath"`
	// BootID is the kernel boot the container was created in: its
	// processes and mounts do not survive a reboot.
	BootID string `json:"bootID"`
}

// clone copies c deeply enough that callers cannot change the manager's
// record.
func clone(c *Container) *Container {
	out := *c
	out.Labels = maps.Clone(c.Labels)
	out.Annotations = maps.Clone(c.Annotations)
	out.Mounts = slices.Clone(c.Mounts)
	if c.Resources != nil {
		r := *c.Resources
		r.HugepageLimits = slices.Clone(r.HugepageLimits)
		r.Unified = maps.Clone(r.Unified)
		out.Resources = &r
	}
	if c.Restored != nil {
		r := *c.Restored
		out.Restored = &r
	}
	if c.User != nil {
		u := *c.User
		u.SupplementalGroups = slices.Clone(u.SupplementalGroups)
		out.User = &u
	}
	return &out
}

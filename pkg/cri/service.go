// Package cri owns crisp's CRI v1 gRPC edge: it validates requests, translates
// them into calls on the packages below (sandbox, container, image, network)
// and maps their errors to gRPC status codes. It holds no runtime logic of its
// own. RPCs that are not built yet answer codes.Unimplemented with their name.
package cri

import (
	"context"
	"errors"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// NetworkStatus reports whether pod networking is usable; nil means ready.
type NetworkStatus interface {
	Status() error
}

// Sandboxes runs pod sandboxes (pkg/sandbox).
type Sandboxes interface {
	Run(ctx context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error)
	Stop(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	Get(id string) (*sandbox.Sandbox, error)
	List() []*sandbox.Sandbox
	Stats(id string) (*sandbox.Stats, error)
	ProcessStats(id string) (*cgroups.ProcessStats, error)
	UpdateResources(ctx context.Context, id string, res *specs.LinuxResources) error
}

// Containers runs CRI containers (pkg/container).
type Containers interface {
	Create(ctx context.Context, podID string, cfg *runtimeapi.ContainerConfig) (*container.Container, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	Get(id string) (*container.Container, error)
	List() []*container.Container
	PodContainers(podID string) []*container.Container
	UpdateResources(ctx context.Context, id string, res *runtimeapi.LinuxContainerResources) error
	ReopenLog(ctx context.Context, id string) error
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error)
	Stats(ctx context.Context, id string) (*container.Stats, error)
	Filesystem() (image.Capacity, error)
	ProcessStats(id string) (*cgroups.ProcessStats, error)
	Subscribe(ctx context.Context) <-chan container.Event
	Checkpoint(ctx context.Context, id, location string) error
	CheckpointPod(ctx context.Context, podID string, ids []string, dir string) error
	RestorePodContainer(ctx context.Context, podID string, cfg *runtimeapi.ContainerConfig, p *container.PodCheckpoint) (*container.Container, error)
}

// streamBatch is how many items one message of a streaming list carries.
const streamBatch = 100

// CgroupStatus describes the cgroup hierarchy crisp runs on.
type CgroupStatus interface {
	Mount() string
	Available() []string
	// Skipped lists controllers whose limits were skipped because the
	// hierarchy lacks them (missing_controller = "warn").
	Skipped() []string
}

// RuntimeDeps are the packages the RuntimeService drives.
type RuntimeDeps struct {
	Network    NetworkStatus
	Sandboxes  Sandboxes
	Containers Containers
	Cgroups    CgroupStatus
	// Streams serves Exec and PortForward; without it they are
	// unimplemented.
	Streams Streams
	// UserNamespaces says why the kernel cannot give pods user namespaces
	// of their own (nil: it can). Without it they are refused.
	UserNamespaces func() error
}

// RuntimeService serves the CRI RuntimeService.
type RuntimeService struct {
	runtimeapi.UnimplementedRuntimeServiceServer

	config     *config.Config
	network    NetworkStatus
	sandboxes  Sandboxes
	containers Containers
	cgroups    CgroupStatus
	streams    Streams
	userns     func() error

	mu      sync.Mutex
	podCIDR string // from UpdateRuntimeConfig
}

// NewRuntimeService returns the RuntimeService for the effective config.
func NewRuntimeService(cfg *config.Config, deps RuntimeDeps) *RuntimeService {
	return &RuntimeService{config: cfg, network: deps.Network, sandboxes: deps.Sandboxes, containers: deps.Containers, cgroups: deps.Cgroups, streams: deps.Streams, userns: deps.UserNamespaces}
}

// userNamespaces says why pods cannot have user namespaces of their own,
// or nil when they can.
func (s *RuntimeService) userNamespaces() error {
	if s.userns == nil {
		return errors.New("user namespaces were not probed")
	}
	return s.userns()
}

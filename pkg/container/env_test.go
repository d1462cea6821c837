package container

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/criu/criupb"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
	"github.com/crisp-runtime/crisp/pkg/image/transfer"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
	"github.com/crisp-runtime/crisp/pkg/store"
)

// testImage is the name the busybox test image is loaded under.
const testImage = "crisp.test/busybox:latest"

// env is a daemon's worth of managers on temporary state: image storage
// with the busybox image, an OCI runtime, pods and containers.
type env struct {
	dir, state, logs string
	cgroups          *cgroups.Hierarchy
	images           *image.Store
	rt               *oci.Runtime
	store            *store.Store
	pods             *sandbox.Manager
	m                *Manager
	imageID          string
	// missing is the runtime's policy for limits of absent controllers.
	missing cgroups.MissingPolicy
	// pidsLimit is the managers' default pids limit.
	pidsLimit int64
	// driver is the cgroup driver; "" is cgroupfs.
	driver string
	// observer is told of container starts.
	observer StartObserver
	// cdiDirs are the CDI spec directories.
	cdiDirs []string
	// nri, when set, is told of the containers' lifecycle.
	nri NRI
}

// noNetwork attaches pods to no network: the tests need the pods' network
// namespaces, not CNI.
type noNetwork struct{}

func (noNetwork) Attach(context.Context, *network.Pod) (*network.Result, error) {
	return &network.Result{}, nil
}
func (noNetwork) Detach(context.Context, *network.Pod) error { return nil }

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, cgroups.MissingWarn)
}

// newEnvWith is newEnv with the runtime's missing-controller policy.
func newEnvWith(t *testing.T, missing cgroups.MissingPolicy) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: containers mount, make cgroups and enter namespaces")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox from Debian's busybox-static package")
	}
	dir := t.TempDir()
	e := &env{dir: dir, state: filepath.Join(dir, "state"), logs: filepath.Join(dir, "logs"), missing: missing}
	e.cgroups = testHierarchy(t)
	ctx := context.Background()
	images, err := image.Open(ctx, image.Options{
		Root:            filepath.Join(dir, "root", "storage"),
		RunRoot:         filepath.Join(dir, "state", "storage"),
		Driver:          image.DriverOverlay,
		SignaturePolicy: filepath.Join(dir, "policy.json"), // absent: accept anything
		Copier:          transfer.Copier{},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.images = images
	img, err := testregistry.Busybox(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "busybox.tar")
	if err := testregistry.WriteDockerArchive(archive, testImage, img, false); err != nil {
		t.Fatal(err)
	}
	loaded, err := images.Load(ctx, archive)
	if err != nil {
		t.Fatal(err)
	}
	e.imageID = loaded[0].ID
	e.open(t)
	t.Cleanup(func() {
		for _, sb := range e.pods.List() {
			if err := e.pods.Remove(ctx, sb.ID); err != nil {
				t.Errorf("remove pod %s: %v", sb.ID, err)
			}
		}
		for _, c := range e.m.List() {
			if err := e.m.Remove(ctx, c.ID); err != nil {
				t.Errorf("remove container %s: %v", c.ID, err)
			}
		}
		e.close()
		unix.Unmount(filepath.Join(e.state, "ns"), unix.MNT_DETACH)
		if err := images.CloseUnmountingAll(); err != nil {
			t.Errorf("close image storage: %v", err)
		}
	})
	return e
}

// open (re)starts the managers on the same state, as a daemon restart does.
func (e *env) open(t *testing.T) {
	t.Helper()
	e.close()
	ctx := context.Background()
	s, err := store.Open(filepath.Join(e.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	e.store = s
	driver := e.driver
	if driver == "" {
		driver = cgroups.DriverCgroupfs
	}
	rt, err := oci.New(oci.Options{
		Root: filepath.Join(e.state, "oci"), CgroupMount: e.cgroups.Mount(), MissingController: e.missing,
		SystemdCgroup: driver == cgroups.DriverSystemd, CRIU: criupb.Codec{},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	pods, err := sandbox.NewManager(ctx, sandbox.Options{
		StateDir: e.state, Store: s, Network: noNetwork{}, Cgroups: e.cgroups, CgroupDriver: driver,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.pods = pods
	m, err := NewManager(ctx, Options{
		StateDir: e.state, Store: s, Runtime: rt, Images: e.images, Pods: pods, Cgroups: e.cgroups,
		CgroupDriver: driver, DefaultPidsLimit: e.pidsLimit, Observer: e.observer, CDISpecDirs: e.cdiDirs, NRI: e.nri,
		CheckpointDir: filepath.Join(e.dir, "root", "checkpoints"),
	})
	if err != nil {
		t.Fatal(err)
	}
	pods.SetContainerStopper(m)
	e.m = m
}

// close stops the managers as a daemon exit does; containers keep running.
func (e *env) close() {
	if e.m != nil {
		e.m.Close()
		e.m = nil
	}
	if e.rt != nil {
		e.rt.Close()
		e.rt = nil
	}
	if e.store != nil {
		e.store.Close()
		e.store = nil
	}
}

// testHierarchy opens the host's cgroup v2 hierarchy: /sys/fs/cgroup on a
// pure v2 host, else the cgroup2 mount of a hybrid one.
func testHierarchy(t *testing.T) *cgroups.Hierarchy {
	t.Helper()
	for _, mount := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if h, err := cgroups.OpenHierarchy(mount, cgroups.MissingWarn); err == nil {
			return h
		}
	}
	t.Skip("needs a cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	return nil
}

// pod runs a pod sandbox named name, logging to the env's log directory.
func (e *env) pod(t *testing.T, name string, pidMode sandbox.NamespaceMode) *sandbox.Sandbox {
	t.Helper()
	sb, err := e.pods.Run(context.Background(), sandbox.Spec{
		Metadata:     sandbox.Metadata{Name: name, Namespace: "default", UID: "uid-" + name},
		Hostname:     name,
		LogDirectory: filepath.Join(e.logs, name),
		PIDMode:      pidMode,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// config is a container running sh -c script, logging to <name>.log.
func config(name, script string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: testImage},
		Command:  []string{"sh", "-c", script},
		LogPath:  name + ".log",
		Labels:   map[string]string{"app": name},
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
	}
}

// create creates a container of cfg in pod sb.
func (e *env) create(t *testing.T, sb *sandbox.Sandbox, cfg *runtimeapi.ContainerConfig) *Container {
	t.Helper()
	c, err := e.m.Create(context.Background(), sb.ID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run creates and starts a container of cfg in pod sb.
func (e *env) run(t *testing.T, sb *sandbox.Sandbox, cfg *runtimeapi.ContainerConfig) *Container {
	t.Helper()
	c := e.create(t, sb, cfg)
	if err := e.m.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	got, err := e.m.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitExited waits for container id to be recorded exited. The exit comes
// from the container's monitor; the bound only keeps a broken test from
// hanging.
func (e *env) waitExited(t *testing.T, id string) *Container {
	t.Helper()
	return e.waitExitedWithin(t, id, 30*time.Second)
}

// waitExitedWithin is waitExited with its bound given.
func (e *env) waitExitedWithin(t *testing.T, id string, bound time.Duration) *Container {
	t.Helper()
	for deadline := time.Now().Add(bound); ; time.Sleep(10 * time.Millisecond) {
		c, err := e.m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == StateExited {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s", id, c.State)
		}
	}
}

// readLog returns the log file's lines.
func readLog(t *testing.T, path string) []string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return readLogMaybe(path)
}

// readLogMaybe returns the lines of the log file at path, none if it is
// missing.
func readLogMaybe(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

package container

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func TestRemoveRunningContainerLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "rm", sandbox.ModeContainer)
	c := e.run(t, sb, config("sleeper", "echo ready; sleep 1000"))
	waitLog(t, c.LogPath, "ready")
	cg := filepath.Join(e.cgroups.Mount(), c.CgroupsPath)
	if _, err := os.Stat(cg); err != nil {
		t.Fatalf("container cgroup: %v", err)
	}
	if mounts := mountsUnder(t, e.dir); len(mounts) == 0 {
		t.Fatal("the container's root file system is not mounted")
	}
	for i := 0; i < 2; i++ {
		if err := e.m.Remove(ctx, c.ID); err != nil {
			t.Fatalf("remove %d: %v", i+1, err)
		}
	}
	if _, err := e.m.Get(c.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get after Remove: %v, want not found", err)
	}
	if alive(c.Pid) {
		t.Errorf("container process %d survived Remove", c.Pid)
	}
	assertNothingLeft(t, e)
	// The log stays for kubelet.
	if lines := readLog(t, c.LogPath); len(lines) != 1 {
		t.Errorf("log after Remove: %q", lines)
	}
	// So does the name: a new container of the same name can be made.
	e.create(t, sb, config("sleeper", "true"))
}

func TestRemovePodRemovesItsContainers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "rmpod", sandbox.ModeContainer)
	c := e.run(t, sb, config("a", "sleep 1000"))
	e.create(t, sb, config("b", "true"))
	if err := e.pods.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	for _, got := range e.m.List() {
		if got.State != StateExited {
			t.Errorf("container %s is %s after StopPodSandbox", got.Metadata.Name, got.State)
		}
	}
	if alive(c.Pid) {
		t.Errorf("container process %d survived StopPodSandbox", c.Pid)
	}
	if err := e.pods.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "bad", sandbox.ModeContainer)
	tests := []struct {
		name  string
		pod   string
		cfg   func() *runtimeapi.ContainerConfig
		class error
		field string
	}{
		{"image not pulled", sb.ID, func() *runtimeapi.ContainerConfig {
			cfg := config("c1", "true")
			cfg.Image.Image = "crisp.test/missing:1"
			return cfg
		}, errdefs.ErrNotFound, "image.image"},
		{"no name", sb.ID, func() *runtimeapi.ContainerConfig {
			return config("", "true")
		}, errdefs.ErrInvalidArgument, "metadata.name"},
		{"privileged in an unprivileged pod", sb.ID, func() *runtimeapi.ContainerConfig {
			cfg := config("c2", "true")
			cfg.Linux.SecurityContext.Privileged = true
			return cfg
		}, errdefs.ErrInvalidArgument, "linux.security_context.privileged"},
		{"unknown capability", sb.ID, func() *runtimeapi.ContainerConfig {
			cfg := config("c3", "true")
			cfg.Linux.SecurityContext.Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"CAP_NO_SUCH"}}
			return cfg
		}, errdefs.ErrInvalidArgument, "linux.security_context.capabilities"},
		{"missing pod", "0123456789abcdef", func() *runtimeapi.ContainerConfig {
			return config("c4", "true")
		}, errdefs.ErrNotFound, "pod_sandbox_id"},
		{"target of no container", sb.ID, func() *runtimeapi.ContainerConfig {
			cfg := config("c6", "true")
			cfg.Linux.SecurityContext.NamespaceOptions = &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET, TargetId: "feedface"}
			return cfg
		}, errdefs.ErrNotFound, "namespace_options.target_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.m.Create(ctx, tt.pod, tt.cfg())
			if !errors.Is(err, tt.class) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Create: %v, want %v naming %s", err, tt.class, tt.field)
			}
		})
	}
	// A missing program fails in the container's init, after the layer,
	// bundle and cgroup were made.
	cfg := config("noexec", "true")
	cfg.Command = []string{"/no/such/binary"}
	if _, err := e.m.Create(ctx, sb.ID, cfg); err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Errorf("Create with a missing program: %v, want an error naming it", err)
	}
	assertNothingLeft(t, e)

	// A pod that is not ready takes no containers.
	if err := e.pods.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Create(ctx, sb.ID, config("late", "true")); !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "pod_sandbox_id") {
		t.Errorf("Create in a stopped pod: %v, want failed precondition naming pod_sandbox_id", err)
	}
	assertNothingLeft(t, e)
}

func TestDuplicateNameIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "dup", sandbox.ModeContainer)
	first := e.create(t, sb, config("web", "true"))
	_, err := e.m.Create(ctx, sb.ID, config("web", "true"))
	if !errors.Is(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), first.ID) {
		t.Fatalf("duplicate Create: %v, want already exists naming %s", err, first.ID)
	}
	next := config("web", "true")
	next.Metadata.Attempt = 1
	if _, err := e.m.Create(ctx, sb.ID, next); err != nil {
		t.Fatalf("next attempt: %v", err)
	}
	// A failed create frees its name at once.
	bad := config("retry", "true")
	bad.Image.Image = "crisp.test/missing:1"
	if _, err := e.m.Create(ctx, sb.ID, bad); err == nil {
		t.Fatal("Create of a missing image succeeded")
	}
	e.create(t, sb, config("retry", "true"))
}

func TestRemoveUnknownSucceeds(t *testing.T) {
	e := newEnv(t)
	if err := e.m.Remove(context.Background(), "0123456789"); err != nil {
		t.Errorf("Remove of an unknown container: %v", err)
	}
	if err := e.m.Stop(context.Background(), "0123456789", 0); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Stop of an unknown container: %v, want not found", err)
	}
}

// The image of a removed container can be removed at once, as kubelet's
// image garbage collection does, though its writable layer and image volume
// are deleted after Remove returns.
func TestImageRemovableRightAfterRemove(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "rmimage", sandbox.ModeContainer)
	cfg := config("sleeper", "sleep 1000")
	cfg.Mounts = []*runtimeapi.Mount{imageVolume("/vol", testImage, "etc")}
	c := e.run(t, sb, cfg)
	if err := e.m.Stop(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.images.Remove(ctx, testImage); err != nil {
		t.Fatalf("RemoveImage right after RemoveContainer: %v", err)
	}
	if _, err := e.images.Get(ctx, testImage); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("image after RemoveImage: %v, want not found", err)
	}
	assertNothingLeft(t, e)
}

// assertNothingLeft checks the kernel and the filesystem for anything a
// container could leave behind: processes' cgroups, mounts, OCI state,
// bundles, layers, records.
func assertNothingLeft(t *testing.T, e *env) {
	t.Helper()
	if err := e.m.removals.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cs := e.m.List(); len(cs) != 0 {
		t.Errorf("%d containers left", len(cs))
	}
	if recs, _ := e.m.records.List(); len(recs) != 0 {
		t.Errorf("%d records left", len(recs))
	}
	if m := mountsUnder(t, filepath.Join(e.dir, "root")); len(m) != 0 {
		t.Errorf("mounts left under the image storage: %v", m)
	}
	if entries, _ := os.ReadDir(e.rt.Root()); len(entries) != 0 {
		t.Errorf("OCI state left: %d entries", len(entries))
	}
	if entries, _ := os.ReadDir(e.m.bundles); len(entries) != 0 {
		t.Errorf("bundles left: %d", len(entries))
	}
	if layers, err := e.images.ContainerLayers(context.Background()); err != nil || len(layers) != 0 {
		t.Errorf("container layers left: %v %v", layers, err)
	}
	// Only this test's pods: other tests on the host make containers too.
	for _, sb := range e.pods.List() {
		if cgs, _ := filepath.Glob(filepath.Join(e.cgroups.Mount(), sb.Cgroup, "crisp-*")); len(cgs) != 0 {
			t.Errorf("container cgroups left: %v", cgs)
		}
	}
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	if n := e.m.index.Len(); n+len(e.m.exits) != 0 {
		t.Errorf("manager still tracks %d containers (names, locks), %d watchers", n, len(e.m.exits))
	}
}

// mountsUnder lists the mount points below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// RemovePodSandbox waits for a container being created in the pod, then
// removes it with the pod: the late container must not bring the pod's
// cgroup back or outlive the pod.
func TestRemovePodWaitsForContainerCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "inflight", sandbox.ModeContainer)
	reached, proceed := make(chan struct{}), make(chan struct{})
	e.m.testHookStep = func(step string) error {
		if step == "layer" {
			close(reached)
			<-proceed
		}
		return nil
	}
	created := make(chan error, 1)
	go func() {
		_, err := e.m.Create(ctx, sb.ID, config("late", "sleep 1000"))
		created <- err
	}()
	<-reached
	removed := make(chan error, 1)
	go func() { removed <- e.pods.Remove(ctx, sb.ID) }()
	// Removing the pod must wait for the create; only a bounded wait can
	// show that it does not finish meanwhile.
	select {
	case err := <-removed:
		t.Errorf("RemovePodSandbox finished (%v) while a container was being created in the pod", err)
		removed <- err
	case <-time.After(time.Second):
	}
	close(proceed)
	if err := <-created; err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Create racing RemovePodSandbox: %v, want success or not found", err)
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	e.m.testHookStep = nil
	if _, err := os.Stat(filepath.Join(e.cgroups.Mount(), sb.Cgroup)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod cgroup %s after RemovePodSandbox: %v, want it gone", sb.Cgroup, err)
	}
	assertNothingLeft(t, e)

	// A container cannot be created in the removed pod.
	if _, err := e.m.Create(ctx, sb.ID, config("later", "true")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Create in a removed pod: %v, want not found", err)
	}
}

// A restart finishes what is in the retired directory without following
// it anywhere: an entry that is a symlink out of it, planted there, is
// removed itself, and the tree it names is untouched.
func TestFinishRetiredStaysInItsDirectory(t *testing.T) {
	e := newEnv(t)
	e.open(t)
	outside := t.TempDir()
	victim := filepath.Join(outside, "keep")
	if err := os.WriteFile(victim, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(retiredDir(e.state), "planted")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if _, err := os.Lstat(link); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the planted link after a restart: %v, want it removed", err)
	}
	if data, err := os.ReadFile(victim); err != nil || string(data) != "host" {
		t.Errorf("the file the link named: %q %v, want it untouched", data, err)
	}
}

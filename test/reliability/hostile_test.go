package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// hostileCase is one malformed request and the answer the CRI asks for.
type hostileCase struct {
	name string
	code codes.Code
	// fields must all be in the message of an InvalidArgument answer: the
	// CRI field path of the offending field.
	fields []string
	// prepare builds the request (making what it needs on disk, before
	// the host is snapshotted) and returns the call.
	prepare func(h *hostile) func(ctx context.Context) (any, error)
	// check, when set, judges a successful answer.
	check func(resp any) error
}

// hostile is the daemon the hostile cases run against, with a pod and a
// running container for the cases that need real ids, and fixtures on
// disk.
type hostile struct {
	*env
	pod    string
	podCfg *runtimeapi.PodSandboxConfig
	ctr    string
	// fixtures: a FIFO, a directory, a 1 GiB sparse file and a file that
	// is not JSON, all where a seccomp profile is looked for.
	fifo, dir, huge, notJSON string
	// t is the running case; n counts the cases, for unique names.
	t *testing.T
	n int
}

// TestHostileInputs sends malformed requests to every RPC of the
// RuntimeService and the ImageService. Each must get the gRPC code the
// CRI asks for, naming the field where it is InvalidArgument; the daemon
// must stay up; and nothing outside crisp's directories may appear or
// change on the host.
func TestHostileInputs(t *testing.T) {
	cases := hostileCases()
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases are named %q", tc.name)
		}
		seen[tc.name] = true
	}
	e := newEnv(t)
	h := &hostile{env: e}
	h.setup(t)
	t.Logf("%d cases", len(cases))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { h.run(t, tc) })
		if !e.d.Running() {
			t.Fatalf("the daemon died during %q:\n%s", tc.name, tail(e.d.Log(), 30))
		}
	}
	ctx, cancel := call(t)
	defer cancel()
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: h.pod}); err != nil {
		t.Errorf("StopPodSandbox of the base pod: %v", err)
	}
	e.removeAll(t)
	e.checkNoLeaks(t)
}

func (h *hostile) setup(t *testing.T) {
	fix := filepath.Join(h.d.Dir, "fixtures")
	h.fifo, h.dir, h.huge, h.notJSON = filepath.Join(fix, "profile.fifo"), filepath.Join(fix, "profile.d"), filepath.Join(fix, "huge.json"), filepath.Join(fix, "notjson.json")
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(h.fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.notJSON, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(h.huge)
	if err != nil {
		t.Fatal(err)
	}
	// A valid profile's start, then a gigabyte of holes: only an
	// unbounded read gets to its end.
	f.WriteString(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[` + strings.Repeat(" ", 4096))
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ctx, cancel := call(t)
	defer cancel()
	h.podCfg = h.podConfig(t, "hostile-base")
	// The pod's log directory is deep enough in the test's log tree that
	// the classic four-level log_path traversal lands in that tree, where
	// the snapshot sees it, and not somewhere in /tmp.
	h.podCfg.LogDirectory = filepath.Join(h.logs, "a", "b", "c", "hostile-base")
	if err := os.MkdirAll(h.podCfg.LogDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := h.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: h.podCfg})
	if err != nil {
		t.Fatalf("base pod: %v", err)
	}
	h.pod = r.PodSandboxId
	c, err := h.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: h.pod, Config: h.containerConfig("base", longScript), SandboxConfig: h.podCfg})
	if err != nil {
		t.Fatalf("base container: %v", err)
	}
	h.ctr = c.ContainerId
	if _, err := h.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: h.ctr}); err != nil {
		t.Fatalf("start base container: %v", err)
	}
	h.waitState(t, h.ctr, runtimeapi.ContainerState_CONTAINER_RUNNING, 10*time.Second)
}

// run sends one case's request and judges the answer and the host.
func (h *hostile) run(t *testing.T, tc hostileCase) {
	h.n++
	h.t = t
	do := tc.prepare(h)
	before := snapshotHost(t, h.env)
	// A request the daemon blocks on (a FIFO read) must not hang the
	// suite: a deadline answer is a failure like any other.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	resp, err := do(ctx)
	cancel()
	st, _ := status.FromError(err)
	switch {
	case st.Code() != tc.code:
		t.Errorf("code %v (%q), want %v", st.Code(), clip(st.Message()), tc.code)
	case tc.code == codes.InvalidArgument:
		for _, f := range tc.fields {
			if !strings.Contains(st.Message(), f) {
				t.Errorf("message %q does not name the field %s", clip(st.Message()), f)
			}
		}
	case err == nil && tc.check != nil:
		if err := tc.check(resp); err != nil {
			t.Errorf("answer: %v", err)
		}
	}
	h.undo(t, resp, err)

	vctx, vcancel := call(t)
	_, verr := h.rt.Version(vctx, &runtimeapi.VersionRequest{})
	vcancel()
	if verr != nil {
		t.Errorf("the daemon no longer answers Version: %v", verr)
		if h.d.Running() {
			// Restart so the remaining cases still run.
			h.d.Kill(t)
		}
		if err := h.d.TryStart("--cgroup-driver", "cgroupfs"); err != nil {
			t.Fatalf("restart: %v", err)
		}
	}
	after := snapshotHost(t, h.env)
	for _, d := range before.diff(after) {
		t.Errorf("host changed: %s", d)
	}
	before.restore(t, h.env, after)
}

// undo removes what a request that should have been refused made.
func (h *hostile) undo(t *testing.T, resp any, err error) {
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	switch r := resp.(type) {
	case *runtimeapi.RunPodSandboxResponse:
		h.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: r.PodSandboxId})
		if _, err := h.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: r.PodSandboxId}); err != nil {
			t.Errorf("remove the pod the request made: %v", err)
		}
	case *runtimeapi.CreateContainerResponse:
		if _, err := h.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: r.ContainerId}); err != nil {
			t.Errorf("remove the container the request made: %v", err)
		}
	}
}

// clip shortens a message that echoes a huge field.
func clip(s string) string {
	if len(s) > 300 {
		return fmt.Sprintf("%s... (%d bytes)", s[:300], len(s))
	}
	return s
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

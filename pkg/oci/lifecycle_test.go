package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

func TestRunOutputAndExitCode(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "sh", "-c", "echo hello from $(hostname); exit 3")
	out, st := runToExit(t, rt, spec)
	if out != "hello from crisp\n" {
		t.Errorf("output %q, want %q", out, "hello from crisp\n")
	}
	if st.Code != 3 || st.Signal != 0 {
		t.Errorf("exit status %+v, want code 3", st)
	}
}

func TestLifecycleStates(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	spec := testSpec(t, "sleep", "100")
	spec.Annotations = map[string]string{"a": "b"}
	createContainer(t, rt, "states", spec, nil)
	st, err := rt.State(ctx, "states")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusCreated || st.Pid <= 0 || st.Annotations["a"] != "b" {
		t.Fatalf("after create: %+v", st)
	}
	if err := rt.Create(ctx, "states", writeBundle(t, spec), CreateOptions{}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second create: %v, want ErrAlreadyExists", err)
	}
	// A created container is not stopped: delete refuses it and leaves it
	// created.
	if err := rt.Delete(ctx, "states", false); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("delete of a created container: %v, want ErrFailedPrecondition", err)
	}
	if st, err := rt.State(ctx, "states"); err != nil || st.Status != StatusCreated {
		t.Fatalf("after a refused delete: %+v %v", st, err)
	}
	if err := rt.Start(ctx, "states"); err != nil {
		t.Fatal(err)
	}
	if st, _ = rt.State(ctx, "states"); st.Status != StatusRunning {
		t.Fatalf("after start: %s", st.Status)
	}
	if err := rt.Start(ctx, "states"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("second start: %v, want ErrFailedPrecondition", err)
	}
	if err := rt.Delete(ctx, "states", false); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("delete of a running container: %v, want ErrFailedPrecondition", err)
	}
	list, err := rt.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "states" {
		t.Errorf("list: %v %v", list, err)
	}
	if err := rt.Kill(ctx, "states", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	es, err := rt.Wait(ctx, "states")
	if err != nil {
		t.Fatal(err)
	}
	if es.Code != 137 || es.Signal != syscall.SIGKILL {
		t.Errorf("exit status %+v, want SIGKILL", es)
	}
	if st, _ = rt.State(ctx, "states"); st.Status != StatusStopped || st.ExitStatus == nil || st.ExitStatus.Signal != syscall.SIGKILL {
		t.Errorf("after kill: %+v", st)
	}
	if err := rt.Delete(ctx, "states", false); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.State(ctx, "states"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("state after delete: %v, want ErrNotFound", err)
	}
}

func TestSignalsReachInit(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	// The shell exits 42 on SIGUSR1, proving the signal arrived.
	spec := testSpec(t, "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.05; done")
	startContainer(t, rt, "sig", spec)
	time.Sleep(100 * time.Millisecond) // let the trap be installed
	if err := rt.Kill(ctx, "sig", syscall.SIGUSR1, false); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	es, err := rt.Wait(wctx, "sig")
	if err != nil {
		t.Fatal(err)
	}
	if es.Code != 42 {
		t.Errorf("exit status %+v, want 42", es)
	}
}

func TestKillAllAndForceDelete(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	spec := testSpec(t, "sh", "-c", "sleep 100 & sleep 100 & wait")
	startContainer(t, rt, "all", spec)
	deadline := time.Now().Add(5 * time.Second)
	var pids []int
	for time.Now().Before(deadline) {
		pids, _ = rt.Ps(ctx, "all")
		if len(pids) == 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) != 3 {
		t.Fatalf("ps: %v, want 3 processes", pids)
	}
	if err := rt.Kill(ctx, "all", syscall.SIGTERM, true); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Delete(ctx, "all", false); err != nil {
		t.Fatal(err)
	}

	startContainer(t, rt, "force", testSpec(t, "sleep", "100"))
	if err := rt.Delete(ctx, "force", true); err != nil {
		t.Fatalf("force delete: %v", err)
	}
	if _, err := rt.State(ctx, "force"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("state after force delete: %v", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	rt := newTestRuntime(t)
	for _, id := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("a", 1025)} {
		err := rt.Create(context.Background(), id, t.TempDir(), CreateOptions{})
		var fe *errdefs.FieldError
		if !errors.As(err, &fe) || fe.Field != "id" {
			t.Errorf("id %q: %v, want an error naming the id", id, err)
		}
	}
}

// TestSubreaperReapsMonitor runs a container from a caller that is a child
// subreaper, as a daemon may be: the monitor, reparented to the caller, must
// not stay behind as a zombie once the container is deleted.
func TestSubreaperReapsMonitor(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become a child subreaper: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	rt := newTestRuntime(t)
	spec := testSpec(t, "true")
	const id = "subreaper"
	createContainer(t, rt, id, spec, nil)
	rec, err := rt.load(id)
	if err != nil || rec == nil {
		t.Fatalf("load %s: %v", id, err)
	}
	if ppid := procPPid(t, rec.Monitor.Pid); ppid != os.Getpid() {
		t.Fatalf("monitor %d has parent %d, want the subreaper %d", rec.Monitor.Pid, ppid, os.Getpid())
	}
	ctx := context.Background()
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt.Delete(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := proc.Stat(rec.Monitor.Pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("monitor %d still exists after delete (a zombie?): %v", rec.Monitor.Pid, err)
	}
}

// procPPid reads a process's parent pid from /proc/<pid>/stat.
func procPPid(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

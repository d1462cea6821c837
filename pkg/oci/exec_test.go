package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestExecSeesContainer(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	spec := testSpec(t, "sh", "-c", "echo inside > /dev/shm/marker; exec sleep 100")
	spec.Process.Env = append(spec.Process.Env, "FROM=spec")
	st := startContainer(t, rt, "execd", spec)
	time.Sleep(50 * time.Millisecond) // let the marker be written

	out := newOutputPipe(t)
	umask := uint32(0o077)
	proc := &specs.Process{
		Args: []string{"sh", "-c", "cat /dev/shm/marker; echo pid=$$; cat /proc/1/comm; hostname; id -u; grep ^NoNewPrivs /proc/self/status; echo $FROM; umask; exit 7"},
		Env:  []string{"PATH=/bin", "FROM=exec"},
		Cwd:  "/dev", User: specs.User{UID: 33, GID: 33, Umask: &umask}, NoNewPrivileges: true,
	}
	p, err := rt.Exec(ctx, "execd", proc, ExecOptions{Stdout: out.w, Stderr: out.w})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := nsLink(t, p.Pid, specs.PIDNamespace), nsLink(t, st.Pid, specs.PIDNamespace); got != want {
		// p may have exited already; then the output check below decides.
		t.Logf("exec pid namespace %s, init %s", got, want)
	}
	es, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if es.Code != 7 {
		t.Errorf("exit status %+v, want 7", es)
	}
	text := out.text(t)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 8 || lines[0] != "inside" || lines[1] == "pid=1" || !strings.HasPrefix(lines[1], "pid=") ||
		lines[2] != "sleep" || lines[3] != "crisp" || lines[4] != "33" || lines[5] != "NoNewPrivs:\t1" ||
		lines[6] != "exec" || lines[7] != "0077" {
		t.Errorf("exec output:\n%s", text)
	}

	// Exec into a stopped container fails.
	if err := rt.Kill(ctx, "execd", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "execd"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Exec(ctx, "execd", proc, ExecOptions{}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("exec into a stopped container: %v", err)
	}
}

func TestExecInUserNamespace(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "sleep", "100")
	userSpec(spec)
	startContainer(t, rt, "userexec", spec)
	out := newOutputPipe(t)
	p, err := rt.Exec(context.Background(), "userexec", &specs.Process{Args: []string{"cat", "/proc/self/uid_map"}, Cwd: "/", Env: []string{"PATH=/bin"}}, ExecOptions{Stdout: out.w, Stderr: out.w})
	if err != nil {
		t.Fatal(err)
	}
	if es, err := p.Wait(); err != nil || es.Code != 0 {
		t.Fatalf("%+v %v", es, err)
	}
	if got, want := out.text(t), fmt.Sprintf("%10d %10d %10d\n", 0, 100000, 65536); got != want {
		t.Errorf("uid_map in exec %q, want %q", got, want)
	}
}

func TestPauseResume(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	st := startContainer(t, rt, "paused", testSpec(t, "sleep", "100"))
	if err := rt.Pause(ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	if s, _ := rt.State(ctx, "paused"); s.Status != StatusPaused {
		t.Errorf("after pause: %s", s.Status)
	}
	cg, err := rt.openCgroup(rt.cgroupMount, testSpec(t).Linux.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	if fs, err := cg.FreezeState(); err != nil || fs != cgroups.Frozen {
		t.Errorf("freezer %s %v", fs, err)
	}
	if _, err := rt.Exec(ctx, "paused", &specs.Process{Args: []string{"true"}, Cwd: "/"}, ExecOptions{}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("exec into a paused container: %v", err)
	}
	if err := rt.Resume(ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	if s, _ := rt.State(ctx, "paused"); s.Status != StatusRunning {
		t.Errorf("after resume: %s", s.Status)
	}
	if err := rt.Resume(ctx, "paused"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("resume of a running container: %v", err)
	}
	// A paused container can still be deleted by force.
	if err := rt.Pause(ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Delete(ctx, "paused", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); !os.IsNotExist(err) {
		t.Errorf("init %d survived a forced delete", st.Pid)
	}
}

// On a hierarchy without the memory controller a memory limit fails with
// an error naming it, and leaves nothing behind.
func TestUpdateAndMissingController(t *testing.T) {
	rt := newTestRuntime(t)
	h, err := cgroups.OpenHierarchy(rt.cgroupMount, cgroups.MissingError)
	if err != nil {
		t.Fatal(err)
	}
	limit := int64(64 << 20)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	if h.Has("memory") {
		startContainer(t, rt, "update", testSpec(t, "sleep", "100"))
		if err := rt.Update(context.Background(), "update", res); err != nil {
			t.Fatal(err)
		}
		cg, _ := rt.openCgroup(rt.cgroupMount, testSpec(t).Linux.CgroupsPath)
		data, err := os.ReadFile(cg.Path() + "/memory.max")
		if err != nil || strings.TrimSpace(string(data)) != fmt.Sprint(limit) {
			t.Errorf("memory.max %q %v", data, err)
		}
		return
	}
	spec := testSpec(t, "true")
	spec.Linux.Resources = res
	err = rt.Create(context.Background(), "nomem", writeBundle(t, spec), CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("create with a memory limit and no memory controller: %v", err)
	}
	if _, serr := os.Stat(rt.dir("nomem")); !os.IsNotExist(serr) {
		t.Error("state left behind")
	}
	if _, serr := os.Stat(rt.cgroupMount + spec.Linux.CgroupsPath); !os.IsNotExist(serr) {
		t.Error("cgroup left behind")
	}
}

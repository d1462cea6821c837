package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSoak runs pod and container cycles one after another: a pod, a short
// container and a long one started in it, an exec in the long one, then
// stop and removal of all three. Nothing may be left afterwards, and the
// daemon's resident memory and open descriptors must stay flat between
// the end of the warm-up and the end of the run.
func TestSoak(t *testing.T) {
	m := runMode(t)
	e := newEnv(t)
	warmup := max(m.cycles/10, 5)
	t.Logf("%s form: %d cycles, figures after %d", m.name, m.cycles, warmup)

	var warmRSS, warmFDs int
	start := time.Now()
	for i := range m.cycles {
		soakCycle(t, e, i)
		if t.Failed() {
			t.Fatalf("cycle %d failed", i)
		}
		if i+1 == warmup {
			var err error
			if warmRSS, warmFDs, err = procFigures(e.d.Pid()); err != nil {
				t.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	rss, fds, err := procFigures(e.d.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cycles in %v (%v per cycle)", m.cycles, elapsed.Round(time.Millisecond), (elapsed / time.Duration(m.cycles)).Round(time.Millisecond))
	t.Logf("daemon VmRSS %d KiB after warm-up, %d KiB at the end; open fds %d after warm-up, %d at the end", warmRSS, rss, warmFDs, fds)
	// The Go heap grows and shrinks with the collector: allow a fifth of
	// the warm figure, at least 8 MiB. Descriptors do not breathe: allow
	// a few for gRPC connections and the streaming server.
	if limit := warmRSS + max(warmRSS/5, 8<<10); rss > limit {
		t.Errorf("daemon VmRSS grew from %d KiB to %d KiB (limit %d KiB)", warmRSS, rss, limit)
	}
	if limit := warmFDs + 4; fds > limit {
		t.Errorf("daemon open fds grew from %d to %d (limit %d)", warmFDs, fds, limit)
	}
	e.removeAll(t)
	e.checkNoLeaks(t)
}

// soakCycle is one pod's life.
func soakCycle(t *testing.T, e *env, i int) {
	t.Helper()
	ctx, cancel := call(t)
	defer cancel()
	podCfg := e.podConfig(t, fmt.Sprintf("soak-%d", i))
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatalf("cycle %d: RunPodSandbox: %v", i, err)
	}
	ids := map[string]string{}
	for _, c := range []struct{ name, script string }{{"short", "echo done"}, {"long", longScript}} {
		r, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
			PodSandboxId: pod.PodSandboxId, Config: e.containerConfig(c.name, c.script), SandboxConfig: podCfg,
		})
		if err != nil {
			t.Fatalf("cycle %d: CreateContainer %s: %v", i, c.name, err)
		}
		if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
			t.Fatalf("cycle %d: StartContainer %s: %v", i, c.name, err)
		}
		ids[c.name] = r.ContainerId
	}
	e.waitState(t, ids["long"], runtimeapi.ContainerState_CONTAINER_RUNNING, 10*time.Second)
	x, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ids["long"], Cmd: []string{"sh", "-c", trappedScript + "; echo $((6*7))"}, Timeout: 10})
	if err != nil || x.ExitCode != 0 || strings.TrimSpace(string(x.Stdout)) != "42" {
		t.Errorf("cycle %d: ExecSync = %+v, %v; want 42 and exit code 0", i, x, err)
	}
	if st := e.waitState(t, ids["short"], runtimeapi.ContainerState_CONTAINER_EXITED, 10*time.Second); st.ExitCode != 0 {
		t.Errorf("cycle %d: short container exited with %d, want 0", i, st.ExitCode)
	}
	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ids["long"], Timeout: 10}); err != nil {
		t.Fatalf("cycle %d: StopContainer: %v", i, err)
	}
	if st := e.waitState(t, ids["long"], runtimeapi.ContainerState_CONTAINER_EXITED, 10*time.Second); st.ExitCode != longExitCode {
		t.Errorf("cycle %d: stopped container exited with %d, want %d", i, st.ExitCode, longExitCode)
	}
	for _, id := range ids {
		if _, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("cycle %d: RemoveContainer: %v", i, err)
		}
	}
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatalf("cycle %d: StopPodSandbox: %v", i, err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatalf("cycle %d: RemovePodSandbox: %v", i, err)
	}
}

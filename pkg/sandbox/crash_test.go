package sandbox

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// A daemon that dies at any step of Run leaves a pod that the restarted
// daemon undoes completely: pins, network, reaper, cgroups, files, record.
// The crash is simulated by ending Run's goroutine at the step, so that
// nothing of Run's own cleanup runs, and abandoning the manager.
func TestCrashAtEveryStepIsUndoneOnRestart(t *testing.T) {
	e := newEnv(t)
	// With NRI on, so that a crash while plugins look at it is undone too.
	e.nri = &fakeNRI{}
	e.open(t)
	crashed := crashAtEveryRunStep(t, e, func() Spec {
		spec := podSpec("crash")
		spec.PIDMode = ModePod
		spec.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"}
		return spec
	}, nil)
	t.Logf("crashed at steps %s", strings.Join(crashed, ", "))
	for _, want := range []string{"files", "shm", "cgroup", "namespaces", "reaper", "reaper record", "pid namespace", "network", "hosts", "nri"} {
		if !slices.Contains(crashed, want) {
			t.Errorf("Run never crashed at step %q", want)
		}
	}
	assertNothingLeft(t, e)
}

// crashAtEveryRunStep runs a pod of spec() once for every step of Run,
// crashing at a later step each time (Run's goroutine ends there, so none
// of its own cleanup runs) and restarting the managers on the same state,
// then checks that nothing is left, with check for more, until Run gets
// past its last step. It returns the steps crashed at.
func crashAtEveryRunStep(t *testing.T, e *env, spec func() Spec, check func()) []string {
	t.Helper()
	ctx := context.Background()
	var crashed []string
	for i := 0; ; i++ {
		calls := 0
		e.m.testHookStep = func(step string) error {
			calls++
			if calls == i+1 {
				crashed = append(crashed, step)
				runtime.Goexit()
			}
			return nil
		}
		done := make(chan *Sandbox, 1)
		go func() {
			defer close(done)
			sb, err := e.m.Run(ctx, spec())
			if err != nil {
				t.Errorf("Run: %v", err)
				return
			}
			done <- sb
		}()
		if sb, ok := <-done; ok {
			// Past the last step: Run crashed at every step once.
			e.m.testHookStep = nil
			if err := e.m.Remove(ctx, sb.ID); err != nil {
				t.Fatal(err)
			}
			break
		}
		if t.Failed() {
			t.FailNow()
		}
		// The daemon restarts on the same state and store.
		e.open(t)
		assertNothingLeft(t, e)
		if check != nil {
			check()
		}
		if t.Failed() {
			t.Fatalf("restart after a crash at step %q left the above", crashed[len(crashed)-1])
		}
	}
	return crashed
}

// A pod whose record is lost (the store restored from a backup, say) has
// its pins, reaper, cgroups and files removed by the next start all the
// same.
func TestRestartRemovesPodsWithoutRecord(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := podSpec("lost")
	spec.PIDMode = ModePod
	sb, err := e.m.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(reapers(t, []string{sb.ID})) != 1 {
		t.Fatal("the pod has no reaper running")
	}
	// Its IP address is released through CNI DEL, which needs the record:
	// release it now, as only the rest is at stake.
	if err := e.net.Detach(ctx, networkPod(sb)); err != nil {
		t.Fatal(err)
	}
	if err := e.m.records.Delete(sb.ID); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	assertNothingLeft(t, e)
}

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/network"
)

// errInjected is the failure tests inject into a step of Run or into CNI.
var errInjected = errors.New("injected failure")

// faultyNetwork wraps the test's CNI network with failures a test turns
// on: an ADD that fails before any plugin runs (as one with arguments no
// plugin can be passed does) and a DEL that fails every time.
type faultyNetwork struct {
	real Network

	mu         sync.Mutex
	failAttach bool
	failDetach bool
	// crashAfterAttach ends the calling goroutine once ADD has failed, as
	// a daemon crash there would.
	crashAfterAttach bool
	detaches         int
}

func (f *faultyNetwork) set(attach, detach, crash bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAttach, f.failDetach, f.crashAfterAttach = attach, detach, crash
}

func (f *faultyNetwork) Attach(ctx context.Context, pod *network.Pod) (*network.Result, error) {
	f.mu.Lock()
	fail, crash := f.failAttach, f.crashAfterAttach
	f.mu.Unlock()
	if !fail {
		return f.real.Attach(ctx, pod)
	}
	if crash {
		runtime.Goexit()
	}
	return nil, fmt.Errorf("CNI ADD: %w", errInjected)
}

func (f *faultyNetwork) Detach(ctx context.Context, pod *network.Pod) error {
	f.mu.Lock()
	fail := f.failDetach
	f.detaches++
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("CNI DEL: %w", errInjected)
	}
	return f.real.Detach(ctx, pod)
}

func (f *faultyNetwork) detachCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.detaches
}

// A pod whose CNI ADD failed, and whose every DEL fails too, is undone
// completely: a DEL that never succeeds must not keep it forever.
func TestFailedAttachWithFailingDetachLeavesNothing(t *testing.T) {
	e := newEnv(t)
	fn := &faultyNetwork{real: e.net}
	e.network = fn
	e.open(t)
	ctx := context.Background()
	spec := podSpec("nonet")
	spec.PIDMode = ModePod
	fn.set(true, true, false)
	if _, err := e.m.Run(ctx, spec); !errors.Is(err, errInjected) {
		t.Fatalf("Run with a failing ADD: %v, want the injected failure", err)
	}
	if fn.detachCalls() == 0 {
		t.Error("undoing the pod did not try CNI DEL")
	}
	assertNothingLeft(t, e)

	// The same after a crash right after the failed ADD: the restarted
	// daemon undoes the pod although DEL keeps failing.
	done := make(chan struct{})
	fn.set(true, true, true)
	go func() {
		defer close(done)
		e.m.Run(ctx, spec)
		t.Error("Run returned after the simulated crash")
	}()
	<-done
	e.open(t)
	assertNothingLeft(t, e)

	// The name is free; the network works again.
	fn.set(false, false, false)
	sb, err := e.m.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

// An attached pod keeps its network namespace while CNI DEL fails, so that
// every retry can release its address; once DEL works, removal finishes.
func TestFailingDetachOfAttachedPodIsRetried(t *testing.T) {
	e := newEnv(t)
	fn := &faultyNetwork{real: e.net}
	e.network = fn
	e.open(t)
	ctx := context.Background()
	sb, err := e.m.Run(ctx, podSpec("retry"))
	if err != nil {
		t.Fatal(err)
	}
	fn.set(false, true, false)
	if err := e.m.Stop(ctx, sb.ID); !errors.Is(err, errInjected) {
		t.Fatalf("Stop with a failing DEL: %v, want the DEL's failure", err)
	}
	if err := e.m.Remove(ctx, sb.ID); !errors.Is(err, errInjected) {
		t.Fatalf("Remove with a failing DEL: %v, want the DEL's failure", err)
	}
	if ok, err := isNamespacePin(sb.Namespaces[NamespaceNet]); !ok || err != nil {
		t.Fatalf("network namespace of a pod whose DEL failed: pinned %v, %v; want kept for the retry", ok, err)
	}
	if got, err := e.m.Get(sb.ID); err != nil || !got.NetworkAttached || got.State != StateNotReady {
		t.Fatalf("pod whose DEL failed: %+v, %v; want it not ready and still attached", got, err)
	}
	fn.set(false, false, false)
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

// Whatever step of Run fails, nothing of the pod remains and its name is
// free.
func TestRunFailureAtEveryStepLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var steps []string
	for i := 0; ; i++ {
		calls := 0
		failed := ""
		e.m.testHookStep = func(step string) error {
			calls++
			if calls == i+1 {
				failed = step
				return fmt.Errorf("step %s: %w", step, errInjected)
			}
			return nil
		}
		spec := podSpec("steps")
		spec.PIDMode = ModePod
		spec.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"}
		sb, err := e.m.Run(ctx, spec)
		if err == nil {
			// Past the last step: every step has failed once.
			if err := e.m.Remove(ctx, sb.ID); err != nil {
				t.Fatal(err)
			}
			break
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("Run failing at step %d: %v, want the injected failure", i, err)
		}
		steps = append(steps, failed)
		assertNothingLeft(t, e)
		if t.Failed() {
			t.Fatalf("failure at step %q left the above", failed)
		}
	}
	e.m.testHookStep = nil
	t.Logf("failed at steps %s", strings.Join(steps, ", "))
	for _, want := range []string{"files", "shm", "cgroup", "namespaces", "reaper", "reaper record", "pid namespace", "network", "hosts"} {
		found := false
		for _, s := range steps {
			found = found || s == want
		}
		if !found {
			t.Errorf("step %q never failed", want)
		}
	}
	assertNothingLeft(t, e)
}

// A pod whose network namespace is gone (as after a reboot) is removed
// although CNI DEL keeps failing: its interfaces went with the namespace.
func TestFailingDetachOfPodWithoutNetnsIsRemoved(t *testing.T) {
	e := newEnv(t)
	fn := &faultyNetwork{real: e.net}
	e.network = fn
	e.open(t)
	ctx := context.Background()
	sb, err := e.m.Run(ctx, podSpec("gonens"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(sb.Namespaces[NamespaceNet], unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	fn.set(false, true, false)
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatalf("Remove of a pod without its network namespace whose DEL fails: %v", err)
	}
	// What the plugins keep outside the namespace (the address lease) is
	// theirs once DEL is given up; release it for the leak check.
	if err := e.net.Detach(ctx, networkPod(sb)); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

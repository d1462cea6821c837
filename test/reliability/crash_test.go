package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCrashInjection runs bursts of pod and container operations from
// several goroutines and SIGKILLs the daemon at random points, restarting
// it each time. After every restart each pod and container the daemon
// acknowledged must be found again, in the state its acknowledged
// operations left it in, until its removal was acknowledged. At the end
// everything is removed through the CRI and nothing may be left.
func TestCrashInjection(t *testing.T) {
	m := runMode(t)
	t.Logf("%s form: %d kills, seed %d (CRISP_RELIABILITY_SEED=%d replays the choices)", m.name, m.kills, m.seed, m.seed)
	e := newEnv(t)
	rng := rand.New(rand.NewSource(m.seed))
	w := &world{pods: map[string]*podRecord{}, ctrs: map[string]*ctrRecord{}}
	const workers = 3
	for round := range m.kills {
		var killing atomic.Bool
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			b := &burst{e: e, w: w, rng: rand.New(rand.NewSource(rng.Int63())), killing: &killing, name: fmt.Sprintf("r%d-w%d", round, i)}
			go func() {
				defer wg.Done()
				b.run(t)
			}()
		}
		// The injection point: a random moment into the burst.
		delay := time.Duration(300+rng.Intn(3700)) * time.Millisecond
		time.Sleep(delay)
		killing.Store(true)
		e.d.Kill(t)
		wg.Wait()
		t.Logf("kill %d after %v: %s", round+1, delay, w.summary())
		if err := e.d.TryStart("--cgroup-driver", "cgroupfs"); err != nil {
			t.Fatalf("restart after kill %d: %v", round+1, err)
		}
		w.verify(t, e)
		if t.Failed() {
			break
		}
	}
	e.removeAll(t)
	e.checkNoLeaks(t)
}

// podRecord is what the daemon acknowledged about a pod.
type podRecord struct {
	id, name string
	// stopped: StopPodSandbox succeeded; stopTried: it was called and the
	// daemon died before it answered.
	stopped, stopTried bool
	// removed: RemovePodSandbox succeeded; removeTried: the daemon died
	// during it.
	removed, removeTried bool
}

// ctrRecord is what the daemon acknowledged about a container.
type ctrRecord struct {
	id, name, pod string
	long          bool
	started       bool
	startTried    bool
	stopped       bool
	stopTried     bool
	removed       bool
	removeTried   bool
}

// world is every acknowledged pod and container.
type world struct {
	mu   sync.Mutex
	pods map[string]*podRecord
	ctrs map[string]*ctrRecord
	ops  atomic.Int64
}

func (w *world) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	live := 0
	for _, p := range w.pods {
		if !p.removed {
			live++
		}
	}
	return fmt.Sprintf("%d operations so far, %d pods acknowledged, %d not removed, %d containers", w.ops.Load(), len(w.pods), live, len(w.ctrs))
}

// burst is one goroutine's operations in one round.
type burst struct {
	e       *env
	w       *world
	rng     *rand.Rand
	killing *atomic.Bool
	name    string
}

// errCrashed says the daemon was killed while the call ran: its outcome is
// unknown.
var errCrashed = errors.New("daemon killed during the call")

// do runs one CRI call. A call that fails while the daemon is being killed
// returns errCrashed; any other failure fails the test.
func (b *burst) do(t *testing.T, what string, f func(ctx context.Context) error) error {
	ctx, cancel := call(t)
	defer cancel()
	err := f(ctx)
	b.w.ops.Add(1)
	if err == nil {
		return nil
	}
	if b.killing.Load() {
		return errCrashed
	}
	t.Errorf("%s %s: %v", b.name, what, err)
	return err
}

// run makes pods until the daemon is killed, each with one or two
// containers, taking each pod a random distance through its life.
func (b *burst) run(t *testing.T) {
	for i := 0; !b.killing.Load(); i++ {
		if err := b.podLife(t, fmt.Sprintf("crash-%s-%d", b.name, i)); err != nil {
			return
		}
	}
}

func (b *burst) podLife(t *testing.T, name string) error {
	e, w := b.e, b.w
	cfg := e.podConfig(t, name)
	var podID string
	if err := b.do(t, "RunPodSandbox "+name, func(ctx context.Context) error {
		r, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		podID = r.GetPodSandboxId()
		return err
	}); err != nil {
		return err
	}
	pod := &podRecord{id: podID, name: name}
	w.mu.Lock()
	w.pods[podID] = pod
	w.mu.Unlock()

	var ctrs []*ctrRecord
	for j := range 1 + b.rng.Intn(2) {
		c := &ctrRecord{name: fmt.Sprintf("c%d", j), pod: podID, long: b.rng.Intn(3) > 0}
		script := shortScript
		if c.long {
			script = longScript
		}
		if err := b.do(t, "CreateContainer "+name+"/"+c.name, func(ctx context.Context) error {
			r, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: e.containerConfig(c.name, script), SandboxConfig: cfg})
			c.id = r.GetContainerId()
			return err
		}); err != nil {
			return err
		}
		w.mu.Lock()
		w.ctrs[c.id] = c
		w.mu.Unlock()
		ctrs = append(ctrs, c)
		if b.rng.Intn(5) == 0 {
			continue // left created
		}
		if err := b.step(t, "StartContainer "+c.id, &c.started, &c.startTried, func(ctx context.Context) error {
			_, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.id})
			return err
		}); err != nil {
			return err
		}
	}
	for _, c := range ctrs {
		if b.rng.Intn(2) == 0 {
			continue
		}
		if err := b.step(t, "StopContainer "+c.id, &c.stopped, &c.stopTried, func(ctx context.Context) error {
			_, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.id, Timeout: 10})
			return err
		}); err != nil {
			return err
		}
		if b.rng.Intn(2) == 0 {
			continue
		}
		if err := b.step(t, "RemoveContainer "+c.id, &c.removed, &c.removeTried, func(ctx context.Context) error {
			_, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.id})
			return err
		}); err != nil {
			return err
		}
	}
	if b.rng.Intn(4) == 0 {
		return nil // the pod stays, for later rounds and the final removal
	}
	if err := b.step(t, "StopPodSandbox "+podID, &pod.stopped, &pod.stopTried, func(ctx context.Context) error {
		_, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		return err
	}); err != nil {
		return err
	}
	if b.rng.Intn(5) == 0 {
		return nil
	}
	if err := b.step(t, "RemovePodSandbox "+podID, &pod.removed, &pod.removeTried, func(ctx context.Context) error {
		_, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
		return err
	}); err != nil {
		return err
	}
	// A removed pod's containers are removed with it.
	w.mu.Lock()
	for _, c := range ctrs {
		c.removed = true
	}
	w.mu.Unlock()
	return nil
}

// step runs one operation on a known object and records its outcome:
// done when acknowledged, tried when the daemon died during it.
func (b *burst) step(t *testing.T, what string, done, tried *bool, f func(ctx context.Context) error) error {
	err := b.do(t, what, f)
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	switch err {
	case nil:
		*done = true
	case errCrashed:
		*tried = true
	}
	return err
}

// verify checks, on the restarted daemon, that every acknowledged pod and
// container is listed in the state its acknowledged operations left it.
func (w *world) verify(t *testing.T, e *env) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx, cancel := call(t)
	defer cancel()
	ps, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatalf("ListPodSandbox after restart: %v", err)
	}
	pods := map[string]runtimeapi.PodSandboxState{}
	for _, p := range ps.Items {
		pods[p.Id] = p.State
	}
	for _, p := range w.pods {
		state, listed := pods[p.id]
		switch {
		case p.removed:
			if listed {
				t.Errorf("pod %s (%s) was removed but is listed again, %v", p.id, p.name, state)
			}
		case p.removeTried:
		case !listed:
			t.Errorf("pod %s (%s) is lost: the daemon acknowledged it and it was not removed", p.id, p.name)
		case p.stopped && state != runtimeapi.PodSandboxState_SANDBOX_NOTREADY:
			t.Errorf("pod %s (%s) was stopped but is %v", p.id, p.name, state)
		case !p.stopped && !p.stopTried && state != runtimeapi.PodSandboxState_SANDBOX_READY:
			t.Errorf("pod %s (%s) was never stopped but is %v", p.id, p.name, state)
		}
	}
	cs, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatalf("ListContainers after restart: %v", err)
	}
	listed := map[string]bool{}
	for _, c := range cs.Containers {
		listed[c.Id] = true
	}
	for _, c := range w.ctrs {
		pod := w.pods[c.pod]
		switch {
		case c.removed:
			if listed[c.id] {
				t.Errorf("container %s was removed but is listed again", c.id)
			}
			continue
		case c.removeTried || pod.removeTried:
			continue
		case !listed[c.id]:
			t.Errorf("container %s (%s of pod %s) is lost: the daemon acknowledged it and it was not removed", c.id, c.name, pod.name)
			continue
		}
		w.verifyContainer(t, e, c, pod)
	}
}

// verifyContainer checks a listed container's state and exit code.
func (w *world) verifyContainer(t *testing.T, e *env, c *ctrRecord, pod *podRecord) {
	t.Helper()
	const (
		created = runtimeapi.ContainerState_CONTAINER_CREATED
		running = runtimeapi.ContainerState_CONTAINER_RUNNING
		exited  = runtimeapi.ContainerState_CONTAINER_EXITED
	)
	// Exit codes a container may end with: its own, or the stop signal's
	// (SIGTERM before the long script's trap is set), or SIGKILL's (a pod
	// stop that does not wait).
	codes := []int32{shortExit, 128 + 15, 128 + 9}
	if c.long {
		codes = []int32{longExitCode, 128 + 15, 128 + 9}
	}
	var states []runtimeapi.ContainerState
	switch {
	case c.startTried || c.stopTried || pod.stopTried:
		states = []runtimeapi.ContainerState{created, running, exited}
	case pod.stopped || c.stopped:
		states = []runtimeapi.ContainerState{exited}
	case !c.started:
		states = []runtimeapi.ContainerState{created}
	case c.long:
		states = []runtimeapi.ContainerState{running}
	default:
		// A short container exits on its own: it must end exited with
		// its code, whether its exit came before, during or after the
		// daemon's death.
		states = []runtimeapi.ContainerState{exited}
		codes = []int32{shortExit}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := call(t)
		st, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.id})
		cancel()
		if err != nil {
			t.Errorf("ContainerStatus %s after restart: %v", c.id, err)
			return
		}
		s := st.Status
		ok := slices.Contains(states, s.State)
		if ok && s.State == exited && c.started && !slices.Contains(codes, s.ExitCode) {
			t.Errorf("container %s (%s of pod %s, long %v) exited with %d (%s), want one of %v", c.id, c.name, pod.name, c.long, s.ExitCode, s.Reason, codes)
			return
		}
		if ok {
			return
		}
		// Only a short container still running may get there in time.
		if s.State != running || c.long || time.Now().After(deadline) {
			t.Errorf("container %s (%s of pod %s, long %v, record %+v) is %v (%s, exit %d), want %v", c.id, c.name, pod.name, c.long, *c, s.State, s.Reason, s.ExitCode, states)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

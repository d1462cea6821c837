package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/test/bench/internal/procmem"
)

// The calls of kubelet's periodic load in a scale run: PLEG relists pods
// and containers, the stats provider reads every container's stats.
const (
	callListPods       = "ListPodSandbox"
	callListContainers = "ListContainers"
	callListStats      = "ListContainerStats"
)

// userHZ is the unit of utime and stime in /proc/PID/stat on Linux.
const userHZ = 100

// scaleResult is what a scale run measured: a node holding Pods pods of
// Containers containers each, polled as kubelet polls it.
type scaleResult struct {
	Pods       int `json:"pods"`
	Containers int `json:"containers"`
	// UpSeconds is how long bringing every pod and container up took with
	// -scale-workers at once, DownSeconds stopping and removing them.
	UpSeconds   float64 `json:"up_seconds"`
	DownSeconds float64 `json:"down_seconds"`
	// Seconds is the length of the observed window, Rounds how many polls
	// it had.
	Seconds float64 `json:"seconds"`
	Rounds  int     `json:"rounds"`
	// Calls has the wall times of the polling calls.
	Calls map[string]stat `json:"calls_ms"`
	// CPUCores is the runtime's CPU time (daemon and helpers) per second of
	// the window; DaemonCPUCores the daemon's alone.
	CPUCores       float64 `json:"cpu_cores"`
	DaemonCPUCores float64 `json:"daemon_cpu_cores"`
	// All and Daemon are the runtime's processes at the end of the window.
	All    procmem.Usage `json:"all"`
	Daemon procmem.Usage `json:"daemon"`
	// Events counts GetContainerEvents: every container must be reported
	// created, started, stopped and deleted.
	Events eventCount `json:"events"`
}

// eventCount is how many container events a run expected and received.
type eventCount struct {
	// Supported is false when the runtime answered GetContainerEvents
	// with Unimplemented.
	Supported bool `json:"supported"`
	Expected  int  `json:"expected"`
	Received  int  `json:"received"`
	Missing   int  `json:"missing"`
}

// scaleOptions are the flags of a scale run.
type scaleOptions struct {
	pods, containers, workers int
	window, interval          time.Duration
}

// scale brings up -scale-pods pods with -scale-containers containers each,
// polls the runtime as kubelet does (ListPodSandbox, ListContainers and
// ListContainerStats of everything every -scale-interval) for
// -scale-window while measuring its CPU time, memory and threads, then
// stops and removes everything, checking that GetContainerEvents reported
// each container's life.
func (b *bench) scale(ctx context.Context, prefix string, log io.Writer) (res scaleResult, err error) {
	so := b.opts.scale
	res = scaleResult{Pods: so.pods, Containers: so.containers}
	events, stopEvents := b.watchEvents(ctx)
	defer stopEvents()

	up := time.Now()
	pods, ctrs, err := b.bringUp(ctx, prefix)
	defer func() {
		// On an error, leave nothing behind.
		if err != nil {
			for _, p := range pods {
				b.cleanup(ctx, p)
			}
		}
	}()
	if err != nil {
		return res, err
	}
	res.UpSeconds = time.Since(up).Seconds()
	fmt.Fprintf(log, "podbench: %d pods and %d containers up in %.1f s\n", len(pods), len(ctrs), res.UpSeconds)

	if err := b.poll(ctx, &res); err != nil {
		return res, err
	}

	down := time.Now()
	if err := b.tearDown(ctx, pods); err != nil {
		return res, err
	}
	pods = nil
	res.DownSeconds = time.Since(down).Seconds()
	res.Events = events.wait(ctx, ctrs, 30*time.Second)
	return res, nil
}

// bringUp runs the pods and their containers, -scale-workers at a time as
// kubelet's pod workers do. It returns what it made, also on an error.
func (b *bench) bringUp(ctx context.Context, prefix string) ([]*pod, []string, error) {
	so := b.opts.scale
	var (
		mu    sync.Mutex
		pods  []*pod
		ctrs  []string
		first error
	)
	next := make(chan int)
	var wg sync.WaitGroup
	for range so.workers {
		wg.Go(func() {
			for i := range next {
				p, _, err := b.runPod(ctx, fmt.Sprintf("%s-%d", prefix, i))
				mu.Lock()
				if p != nil {
					pods = append(pods, p)
				}
				mu.Unlock()
				for c := 0; err == nil && c < so.containers; c++ {
					var id string
					id, _, _, err = b.startContainer(ctx, p, fmt.Sprintf("c%d", c))
					mu.Lock()
					if id != "" {
						ctrs = append(ctrs, id)
					}
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					first = firstError(first, fmt.Errorf("pod %d: %w", i, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range so.pods {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return pods, ctrs, first
}

// firstError keeps the first of two errors.
func firstError(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// poll is the observed window: a round of kubelet's calls every
// -scale-interval, each checked to list everything, and the runtime's CPU
// time over the window.
func (b *bench) poll(ctx context.Context, res *scaleResult) error {
	so := b.opts.scale
	sel := b.opts.memory
	_, before, _, err := sel.Measure()
	if err != nil {
		return err
	}
	daemonBefore, err := procmem.Read(sel.ProcRoot, sel.PID)
	if err != nil {
		return err
	}
	times := map[string][]time.Duration{}
	start := time.Now()
	tick := time.NewTicker(so.interval)
	defer tick.Stop()
	for time.Since(start) < so.window {
		if err := b.pollRound(ctx, times); err != nil {
			return fmt.Errorf("round %d: %w", res.Rounds, err)
		}
		res.Rounds++
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	elapsed := time.Since(start).Seconds()
	daemon, all, _, err := sel.Measure()
	if err != nil {
		return err
	}
	res.Seconds = elapsed
	res.All, res.Daemon = all, daemon
	// Helpers that came or went during the window would skew the sum; in a
	// steady node there are none.
	if all.Procs != before.Procs {
		return fmt.Errorf("the runtime had %d processes at the start of the window and %d at its end", before.Procs, all.Procs)
	}
	res.CPUCores = float64(all.CPUTicks-before.CPUTicks) / userHZ / elapsed
	res.DaemonCPUCores = float64(daemon.CPUTicks-daemonBefore.CPUTicks) / userHZ / elapsed
	res.Calls = map[string]stat{}
	for name, d := range times {
		res.Calls[name] = newStat(d)
	}
	return nil
}

// pollRound lists pods, containers and container stats once, as kubelet's
// PLEG and stats provider do, and checks that each lists the whole node.
func (b *bench) pollRound(ctx context.Context, times map[string][]time.Duration) error {
	so := b.opts.scale
	wantCtrs := so.pods * so.containers
	var n int
	d, err := b.call(ctx, func(c context.Context) error {
		resp, err := b.rt.ListPodSandbox(c, &runtimeapi.ListPodSandboxRequest{})
		n = len(resp.GetItems())
		return err
	})
	if err != nil || n != so.pods {
		return fmt.Errorf("ListPodSandbox: %d pods, want %d: %v", n, so.pods, err)
	}
	times[callListPods] = append(times[callListPods], d)
	d, err = b.call(ctx, func(c context.Context) error {
		resp, err := b.rt.ListContainers(c, &runtimeapi.ListContainersRequest{})
		n = len(resp.GetContainers())
		return err
	})
	if err != nil || n != wantCtrs {
		return fmt.Errorf("ListContainers: %d containers, want %d: %v", n, wantCtrs, err)
	}
	times[callListContainers] = append(times[callListContainers], d)
	d, err = b.call(ctx, func(c context.Context) error {
		resp, err := b.rt.ListContainerStats(c, &runtimeapi.ListContainerStatsRequest{})
		n = len(resp.GetStats())
		return err
	})
	if err != nil || n != wantCtrs {
		return fmt.Errorf("ListContainerStats: stats of %d containers, want %d: %v", n, wantCtrs, err)
	}
	times[callListStats] = append(times[callListStats], d)
	return nil
}

// tearDown ends every pod as kubelet does when pods are deleted: each
// container stopped, the pod stopped, the containers and the pod removed,
// -scale-workers pods at a time.
func (b *bench) tearDown(ctx context.Context, pods []*pod) error {
	var (
		mu    sync.Mutex
		first error
	)
	next := make(chan *pod)
	var wg sync.WaitGroup
	for range b.opts.scale.workers {
		wg.Go(func() {
			for p := range next {
				if err := b.endPod(ctx, p); err != nil {
					b.cleanup(ctx, p)
					mu.Lock()
					first = firstError(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, p := range pods {
		next <- p
	}
	close(next)
	wg.Wait()
	return first
}

func (b *bench) endPod(ctx context.Context, p *pod) error {
	var ctrs []*runtimeapi.Container
	if _, err := b.call(ctx, func(c context.Context) error {
		resp, err := b.rt.ListContainers(c, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: p.id}})
		ctrs = resp.GetContainers()
		return err
	}); err != nil {
		return fmt.Errorf("ListContainers of pod %s: %w", p.id, err)
	}
	for _, c := range ctrs {
		if _, err := b.call(ctx, func(cc context.Context) error {
			_, err := b.rt.StopContainer(cc, &runtimeapi.StopContainerRequest{ContainerId: c.Id, Timeout: b.opts.stopTimeout})
			return err
		}); err != nil {
			return fmt.Errorf("StopContainer %s: %w", c.Id, err)
		}
	}
	if _, err := b.call(ctx, func(c context.Context) error {
		_, err := b.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
		return err
	}); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", p.id, err)
	}
	for _, c := range ctrs {
		if _, err := b.call(ctx, func(cc context.Context) error {
			_, err := b.rt.RemoveContainer(cc, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id})
			return err
		}); err != nil {
			return fmt.Errorf("RemoveContainer %s: %w", c.Id, err)
		}
	}
	if _, err := b.call(ctx, func(c context.Context) error {
		_, err := b.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
		return err
	}); err != nil {
		return fmt.Errorf("RemovePodSandbox %s: %w", p.id, err)
	}
	return b.removeLogs(p)
}

// The container events a scale run expects for each of its containers.
var lifeEvents = []runtimeapi.ContainerEventType{
	runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
	runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
	runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
	runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
}

// eventLog collects GetContainerEvents by container and type.
type eventLog struct {
	mu          sync.Mutex
	seen        map[string]map[runtimeapi.ContainerEventType]bool
	unsupported bool
	err         error
	changed     chan struct{}
}

// watchEvents subscribes to GetContainerEvents, as kubelet's evented PLEG
// does, until stop is called.
func (b *bench) watchEvents(ctx context.Context) (*eventLog, func()) {
	ctx, cancel := context.WithCancel(ctx)
	l := &eventLog{seen: map[string]map[runtimeapi.ContainerEventType]bool{}, changed: make(chan struct{}, 1)}
	stream, err := b.rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		l.fail(err)
		return l, cancel
	}
	awaitSubscription(stream, subscriptionGrace)
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				l.fail(err)
				return
			}
			l.mu.Lock()
			m := l.seen[ev.ContainerId]
			if m == nil {
				m = map[runtimeapi.ContainerEventType]bool{}
				l.seen[ev.ContainerId] = m
			}
			m[ev.ContainerEventType] = true
			l.mu.Unlock()
			select {
			case l.changed <- struct{}{}:
			default:
			}
		}
	}()
	return l, cancel
}

// subscriptionGrace bounds the wait for a runtime to confirm an events
// subscription.
const subscriptionGrace = 2 * time.Second

// awaitSubscription waits until the runtime has the subscription, so that
// no event of the run goes before it. The call returns as soon as the
// stream is open on the client's side, before the runtime's handler may
// have subscribed. A runtime that sends the response header once subscribed
// (crisp) confirms it; one that sends no header before its first event is
// given grace instead.
func awaitSubscription(stream grpc.ClientStream, grace time.Duration) {
	header := make(chan struct{})
	go func() {
		_, _ = stream.Header() // a broken stream shows in Recv
		close(header)
	}()
	select {
	case <-header:
	case <-time.After(grace):
	}
}

func (l *eventLog) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if status.Code(err) == codes.Unimplemented {
		l.unsupported = true
	} else if !errors.Is(err, context.Canceled) && status.Code(err) != codes.Canceled {
		l.err = err
	}
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// wait waits up to timeout for every life event of ctrs and counts them.
func (l *eventLog) wait(ctx context.Context, ctrs []string, timeout time.Duration) eventCount {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c := l.count(ctrs)
		if c.Missing == 0 || !c.Supported {
			return c
		}
		l.mu.Lock()
		broken := l.err != nil
		l.mu.Unlock()
		if broken {
			return c
		}
		select {
		case <-l.changed:
		case <-deadline.C:
			return c
		case <-ctx.Done():
			return c
		}
	}
}

func (l *eventLog) count(ctrs []string) eventCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := eventCount{Supported: !l.unsupported, Expected: len(ctrs) * len(lifeEvents)}
	for _, id := range ctrs {
		for _, t := range lifeEvents {
			if l.seen[id][t] {
				c.Received++
			}
		}
	}
	c.Missing = c.Expected - c.Received
	return c
}

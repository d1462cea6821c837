package sandbox

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// fakeNRI records the events it is told and fails or holds RunPodSandbox
// when a test says so.
type fakeNRI struct {
	mu      sync.Mutex
	events  []string
	failRun bool
	// holdRun, when set, receives the pod's id once RunPodSandbox is
	// reached; RunPodSandbox then waits for release.
	holdRun chan string
	release chan struct{}
}

func (f *fakeNRI) record(event, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event+" "+id)
}

func (f *fakeNRI) BlockSync() func() { return func() {} }

func (f *fakeNRI) RunPodSandbox(_ context.Context, sb *Sandbox) error {
	f.record("RunPodSandbox", sb.ID)
	f.mu.Lock()
	fail, hold := f.failRun, f.holdRun
	f.mu.Unlock()
	if hold != nil {
		hold <- sb.ID
		<-f.release
	}
	if fail {
		return fmt.Errorf("plugin: %w", errInjected)
	}
	return nil
}

func (f *fakeNRI) StopPodSandbox(_ context.Context, sb *Sandbox) error {
	f.record("StopPodSandbox", sb.ID)
	return nil
}

func (f *fakeNRI) RemovePodSandbox(_ context.Context, sb *Sandbox) error {
	f.record("RemovePodSandbox", sb.ID)
	return nil
}

func (f *fakeNRI) eventsOf(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		if len(e) > len(id) && e[len(e)-len(id):] == id {
			out = append(out, e[:len(e)-len(id)-1])
		}
	}
	return out
}

// A pod whose NRI RunPodSandbox fails is undone completely and its name
// is free for the retry; plugins are told each step of a pod once, in
// order, and a second Stop tells them nothing.
func TestNRIRunFailsAndEventsInOrder(t *testing.T) {
	f := &fakeNRI{failRun: true}
	e := newEnv(t)
	e.nri = f
	e.open(t)
	ctx := context.Background()
	spec := podSpec("nri")
	spec.PIDMode = ModePod
	if _, err := e.m.Run(ctx, spec); err == nil {
		t.Fatal("Run succeeded though NRI RunPodSandbox failed")
	}
	assertNothingLeft(t, e)

	f.mu.Lock()
	f.failRun = false
	f.mu.Unlock()
	sb, err := e.m.Run(ctx, spec)
	if err != nil {
		t.Fatalf("retry after the plugin stopped failing: %v", err)
	}
	for range 2 {
		if err := e.m.Stop(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := f.eventsOf(sb.ID), []string{"RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	assertNothingLeft(t, e)
}

// While plugins look at a pod in RunPodSandbox, the pod is not listed,
// not found, and cannot be held for a container.
func TestNRIPodHiddenDuringRun(t *testing.T) {
	f := &fakeNRI{holdRun: make(chan string), release: make(chan struct{})}
	e := newEnv(t)
	e.nri = f
	e.open(t)
	ctx := context.Background()
	done := make(chan error, 1)
	var sb *Sandbox
	go func() {
		var err error
		sb, err = e.m.Run(ctx, podSpec("hidden"))
		done <- err
	}()
	id := <-f.holdRun
	if len(e.m.List()) != 0 {
		t.Errorf("a pod is listed while NRI RunPodSandbox is in progress: %v", e.m.List())
	}
	if _, err := e.m.Get(id); err == nil {
		t.Error("Get finds a pod while NRI RunPodSandbox is in progress")
	}
	if _, release, err := e.m.Hold(id); err == nil {
		release()
		t.Error("a pod can be held for a container while NRI RunPodSandbox is in progress")
	}
	close(f.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := e.m.Get(id); err != nil || got.State != StateReady {
		t.Fatalf("after RunPodSandbox: %+v, %v", got, err)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

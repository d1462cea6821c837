package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// blockingContainers stands in for the container manager: removing a
// pod's containers waits until release is closed, so a test can hold a
// pod's Remove in the middle.
type blockingContainers struct {
	removing chan struct{} // closed when RemovePodContainers is called
	release  chan struct{}
}

func (b *blockingContainers) StopPodContainers(context.Context, string) error { return nil }

func (b *blockingContainers) RemovePodContainers(context.Context, string) error {
	close(b.removing)
	<-b.release
	return nil
}

// waitUntil waits until cond holds, failing the test after a generous
// deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A Stop that waits for a Remove of the same pod finds the pod gone.
func TestStopWaitingForRemoveIsNotFound(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb, err := e.m.Run(ctx, podSpec("race"))
	if err != nil {
		t.Fatal(err)
	}
	b := &blockingContainers{removing: make(chan struct{}), release: make(chan struct{})}
	e.m.SetContainerStopper(b)
	removed := make(chan error, 1)
	go func() { removed <- e.m.Remove(ctx, sb.ID) }()
	<-b.removing
	stopped := make(chan error, 1)
	go func() { stopped <- e.m.Stop(ctx, sb.ID) }()
	waitUntil(t, "Stop to wait for Remove", func() bool { return e.m.index.Waiting(sb.ID) == 1 })
	close(b.release)
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Stop that waited for Remove: %v, want not found", err)
	}
	// A second Remove that waited succeeds, as removing an unknown pod does.
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Errorf("Remove of a removed pod: %v", err)
	}
	e.m.SetContainerStopper(nil)
	if n := e.m.index.Len(); n != 0 {
		t.Errorf("manager still tracks %d pods", n)
	}
	assertNothingLeft(t, e)
}

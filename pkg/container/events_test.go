package container

import (
	"context"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// TestEventsFollowTheLifecycle subscribes and runs a container through
// its lifecycle: one event per step, in order, with the record the step
// left.
func TestEventsFollowTheLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := e.m.Subscribe(ctx)
	sb := e.pod(t, "events", sandbox.ModeContainer)
	c := e.run(t, sb, config("events", "exit 0"))
	e.waitExited(t, c.ID)
	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}

	want := []struct {
		typ   EventType
		state State
	}{{EventCreated, StateCreated}, {EventStarted, StateRunning}, {EventStopped, StateExited}, {EventDeleted, StateExited}}
	for i, w := range want {
		select {
		case ev := <-events:
			if ev.Type != w.typ || ev.Container.ID != c.ID || ev.Container.State != w.state || ev.At.IsZero() {
				t.Errorf("event %d = type %d, container %s in %s; want type %d, %s in %s", i, ev.Type, ev.Container.ID, ev.Container.State, w.typ, c.ID, w.state)
			}
		case <-ctx.Done():
			t.Fatalf("event %d never came", i)
		}
	}
	select {
	case ev := <-events:
		t.Errorf("unexpected event %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if _, ok := <-events; ok {
		t.Error("the channel stays open after the subscriber's context ended")
	}
}

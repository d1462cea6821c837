package container

import (
	"context"
	"time"

	"k8s.io/klog/v2"
)

// EventType is a step of a container's lifecycle, as CRI's
// ContainerEventType.
type EventType int

// Container events, in lifecycle order.
const (
	EventCreated EventType = iota
	EventStarted
	EventStopped
	EventDeleted
)

// Event is a container's lifecycle step. Container is the record as the
// step left it (for EventDeleted, its last record).
type Event struct {
	Type      EventType
	Container *Container
	At        time.Time
}

// eventBuffer is how many events a subscriber may fall behind by; past it,
// events are dropped for that subscriber, which kubelet's relisting makes
// good.
const eventBuffer = 1024

// Subscribe returns the events of every container from now on, until ctx
// ends and the channel closes.
func (m *Manager) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, eventBuffer)
	m.mu.Lock()
	m.subscribers[ch] = struct{}{}
	m.mu.Unlock()
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		delete(m.subscribers, ch)
		m.mu.Unlock()
		close(ch)
	})
	return ch
}

// transition is the event that publishing next after prev makes, if any.
// Callers hold m.mu.
func transition(prev, next *Container) (EventType, bool) {
	was := StateCreating
	if prev != nil {
		was = prev.State
	}
	if was == next.State {
		return 0, false
	}
	switch next.State {
	case StateCreated:
		return EventCreated, true
	case StateRunning:
		return EventStarted, true
	case StateExited, StateUnknown:
		return EventStopped, true
	}
	return 0, false
}

// emit sends ev to every subscriber. Callers hold m.mu, so that subscribers
// see one container's events in order and a closed channel is never sent to.
func (m *Manager) emit(ev Event) {
	for ch := range m.subscribers {
		select {
		case ch <- ev:
		default:
			klog.InfoS("Container event dropped for a subscriber that fell behind", "container", ev.Container.ID, "event", ev.Type)
		}
	}
}

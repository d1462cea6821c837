package image

import (
	"context"
	"sync"
)

// pullGroup runs one pull per key at a time and shares its result with every
// caller that asks for the same key meanwhile. The pull runs on its own
// context: it is cancelled only when every caller waiting for it has given
// up, so one impatient caller does not fail the others.
type pullGroup struct {
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int
	id      string
	err     error
}

// do runs fn for key unless a run for key is in flight, and waits for the
// result or ctx, whichever comes first.
func (g *pullGroup) do(ctx context.Context, key string, fn func(context.Context) (string, error)) (string, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = make(map[string]*flight)
	}
	f, ok := g.flights[key]
	if !ok {
		// Keep ctx's values (such as a logger), not its cancellation.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		g.flights[key] = f
		go func() {
			id, err := fn(fctx)
			cancel()
			g.mu.Lock()
			f.id, f.err = id, err
			if g.flights[key] == f {
				delete(g.flights, key)
			}
			g.mu.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.id, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			// A new caller starts afresh instead of joining a cancelled run.
			if g.flights[key] == f {
				delete(g.flights, key)
			}
		}
		g.mu.Unlock()
		return "", ctx.Err()
	}
}

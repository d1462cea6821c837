package image

import (
	"context"
	"fmt"
	"sync"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// pullGroup runs one pull per key at a time and shares its result with every
// caller that asks for the same key meanwhile. The pull runs on its own
// context: it is cancelled only when every caller waiting for it has given
// up, so one impatient caller does not fail the others, or when the group
// shuts down.
type pullGroup struct {
	base    context.Context
	stop    context.CancelFunc
	running sync.WaitGroup

	mu      sync.Mutex
	flights map[string]*flight
}

func newPullGroup() *pullGroup {
	g := &pullGroup{flights: make(map[string]*flight)}
	g.base, g.stop = context.WithCancel(context.Background())
	return g
}

// shutdown cancels the running pulls and waits for them to end.
func (g *pullGroup) shutdown() {
	g.stop()
	g.running.Wait()
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
	if err := g.base.Err(); err != nil {
		g.mu.Unlock()
		return "", fmt.Errorf("image store is closed: %w", errdefs.ErrUnavailable)
	}
	f, ok := g.flights[key]
	if !ok {
		fctx, cancel := context.WithCancel(g.base)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		g.flights[key] = f
		g.running.Add(1)
		go func() {
			defer g.running.Done()
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

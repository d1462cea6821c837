// Package pending tracks work a call hands to the background so that it
// can answer before the work is done: the deletions that follow a removal.
// Whoever must see the work's effects waits for it (Wait), and closing
// waits for all of it (Close).
package pending

import (
	"context"
	"fmt"
	"sync"
)

// Work is a set of background tasks. The zero value is ready to use; it is
// safe for concurrent use.
type Work struct {
	mu      sync.Mutex
	closed  bool
	running map[chan struct{}]struct{}
}

// Go runs f in a goroutine of its own and returns true, or returns false
// without running it once Close was called.
func (w *Work) Go(f func()) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	if w.running == nil {
		w.running = map[chan struct{}]struct{}{}
	}
	done := make(chan struct{})
	w.running[done] = struct{}{}
	w.mu.Unlock()
	go func() {
		defer func() {
			w.mu.Lock()
			delete(w.running, done)
			w.mu.Unlock()
			close(done)
		}()
		f()
	}()
	return true
}

// Wait waits for the tasks running when it is called, or for ctx.
func (w *Work) Wait(ctx context.Context) error {
	w.mu.Lock()
	chans := make([]chan struct{}, 0, len(w.running))
	for ch := range w.running {
		chans = append(chans, ch)
	}
	w.mu.Unlock()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for background work: %w", ctx.Err())
		}
	}
	return nil
}

// Close refuses new tasks and waits for the running ones.
func (w *Work) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	_ = w.Wait(context.Background())
}

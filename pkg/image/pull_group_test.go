package image

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPullGroupSharesOneRun(t *testing.T) {
	g := newPullGroup()
	defer g.shutdown()
	var runs atomic.Int32
	release := make(chan struct{})
	fn := func(ctx context.Context) (string, error) {
		runs.Add(1)
		<-release
		return "id", nil
	}
	var wg sync.WaitGroup
	results := make([]string, 5)
	for i := range results {
		wg.Go(func() { results[i], _ = g.do(context.Background(), "k", fn) })
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Errorf("ran %d times, want 1", runs.Load())
	}
	for i, r := range results {
		if r != "id" {
			t.Errorf("caller %d got %q", i, r)
		}
	}
	// A later call runs again.
	if _, err := g.do(context.Background(), "k", func(context.Context) (string, error) { return "", errors.New("x") }); err == nil {
		t.Error("a finished run was reused")
	}
}

func TestPullGroupCancellation(t *testing.T) {
	g := newPullGroup()
	defer g.shutdown()
	started := make(chan struct{})
	cancelled := make(chan struct{})
	fn := func(ctx context.Context) (string, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return "", ctx.Err()
	}
	patient, cancelPatient := context.WithCancel(context.Background())
	impatient, cancelImpatient := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { _, err := g.do(patient, "k", fn); done <- err }()
	<-started
	go func() { _, err := g.do(impatient, "k", fn); done <- err }()
	time.Sleep(20 * time.Millisecond)

	// One caller giving up does not cancel the shared run.
	cancelImpatient()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("impatient caller = %v", err)
	}
	select {
	case <-cancelled:
		t.Fatal("the run was cancelled while a caller still waited")
	case <-time.After(50 * time.Millisecond):
	}
	// The last one giving up cancels it.
	cancelPatient()
	<-done
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the run was not cancelled after every caller left")
	}
	// A new caller starts a fresh run instead of joining the cancelled one.
	id, err := g.do(context.Background(), "k", func(context.Context) (string, error) { return "fresh", nil })
	if err != nil || id != "fresh" {
		t.Fatalf("after cancellation: %q, %v", id, err)
	}
}

func TestPullGroupShutdown(t *testing.T) {
	g := newPullGroup()
	ended := make(chan struct{})
	go g.do(context.Background(), "k", func(ctx context.Context) (string, error) {
		<-ctx.Done()
		close(ended)
		return "", ctx.Err()
	})
	time.Sleep(20 * time.Millisecond)
	g.shutdown()
	select {
	case <-ended:
	default:
		t.Fatal("shutdown returned before the running pull ended")
	}
	if _, err := g.do(context.Background(), "k", func(context.Context) (string, error) { return "x", nil }); err == nil {
		t.Fatal("a pull started after shutdown")
	}
}

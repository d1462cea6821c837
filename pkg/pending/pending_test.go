package pending

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitWaitsForRunningTasks(t *testing.T) {
	var w Work
	release := make(chan struct{})
	finished := make(chan struct{})
	if !w.Go(func() {
		<-release
		close(finished)
	}) {
		t.Fatal("Go refused a task before Close")
	}
	waited := make(chan error, 1)
	go func() { waited <- w.Wait(context.Background()) }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned (%v) while the task ran", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	select {
	case <-finished:
	default:
		t.Fatal("Wait returned before the task ended")
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	var w Work
	release := make(chan struct{})
	defer close(release)
	w.Go(func() { <-release })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context: %v, want context.Canceled", err)
	}
}

func TestCloseWaitsAndRefusesNewTasks(t *testing.T) {
	var w Work
	release := make(chan struct{})
	ran := false
	w.Go(func() {
		<-release
		ran = true
	})
	closed := make(chan struct{})
	go func() {
		w.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a task ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if !ran {
		t.Fatal("Close returned before the task ended")
	}
	if w.Go(func() { t.Error("a task ran after Close") }) {
		t.Fatal("Go accepted a task after Close")
	}
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

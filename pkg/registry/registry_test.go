package registry

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

type record struct {
	ID    string
	State string
	Tags  []string
}

func cloneRecord(r *record) *record {
	c := *r
	c.Tags = append([]string(nil), r.Tags...)
	return &c
}

type sample struct{ n int }

func newRegistry() *Registry[record, sample] {
	return New[record, sample]("thing", "thing_id", cloneRecord)
}

// add reserves, publishes and unlocks a record.
func add(t *testing.T, r *Registry[record, sample], id, name string) {
	t.Helper()
	unlock, err := r.Reserve(id, name)
	if err != nil {
		t.Fatal(err)
	}
	r.Publish(id, &record{ID: id, State: "ready", Tags: []string{"a"}})
	unlock()
}

// waitFor waits until cond holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestReservePublishLookup(t *testing.T) {
	r := newRegistry()
	unlock, err := r.Reserve("abc123", "web")
	if err != nil {
		t.Fatal(err)
	}
	// Reserved but not published: lookups do not see it, its name is taken.
	if _, err := r.Get("abc123"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get of an unpublished record: %v, want not found", err)
	}
	if _, _, err := r.Acquire("abc123"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Acquire of an unpublished record: %v, want not found", err)
	}
	if _, err := r.Reserve("def456", "web"); !errors.Is(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), "abc123") {
		t.Errorf("second Reserve of a name: %v, want already exists naming abc123", err)
	}
	if prev, ok := r.Publish("abc123", &record{ID: "abc123", State: "ready", Tags: []string{"x"}}); prev != nil || !ok {
		t.Errorf("first Publish replaced %+v (ok %v)", prev, ok)
	}
	unlock()
	add(t, r, "abd789", "db")

	got, err := r.Get("abc")
	if err != nil || got.ID != "abc123" {
		t.Fatalf("Get by unique prefix: %+v, %v", got, err)
	}
	// Copies are the caller's.
	got.Tags[0] = "changed"
	if again, _ := r.Get("abc123"); again.Tags[0] != "x" {
		t.Error("changing a copy changed the published record")
	}
	if _, err := r.Get("ab"); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "thing_id") {
		t.Errorf("Get by an ambiguous prefix: %v, want invalid argument naming thing_id", err)
	}
	if _, err := r.Get("zzz"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get of an unknown id: %v, want not found", err)
	}
	if n := len(r.List()); n != 2 {
		t.Errorf("List has %d records, want 2", n)
	}
	if ids := r.Select(func(rec *record) bool { return rec.ID == "abd789" }); len(ids) != 1 || ids[0] != "abd789" {
		t.Errorf("Select = %v, want [abd789]", ids)
	}
}

func TestForgetFreesEverything(t *testing.T) {
	r := newRegistry()
	add(t, r, "a1", "web")
	r.SwapSample("a1", &sample{1})
	rec, unlock, err := r.Acquire("a1")
	if err != nil {
		t.Fatal(err)
	}
	if last := r.Forget(rec.ID); last == nil || last.ID != "a1" {
		t.Errorf("Forget returned %+v, want the last record", last)
	}
	unlock()
	if r.Len() != 0 {
		t.Errorf("registry still tracks %d ids", r.Len())
	}
	if _, err := r.Get("a1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get after Forget: %v, want not found", err)
	}
	// A forgotten record is not brought back, nor sampled.
	if _, ok := r.Publish("a1", &record{ID: "a1"}); ok || len(r.List()) != 0 {
		t.Error("Publish after Forget brought the record back")
	}
	if prev := r.SwapSample("a1", &sample{2}); prev != nil || r.Len() != 0 {
		t.Error("SwapSample after Forget kept a sample")
	}
	// The name is free.
	add(t, r, "a2", "web")
}

func TestFreeNameKeepsTheRecord(t *testing.T) {
	r := newRegistry()
	unlock, err := r.Reserve("a1", "web")
	if err != nil {
		t.Fatal(err)
	}
	r.Publish("a1", &record{ID: "a1", State: "broken"})
	r.FreeName("a1")
	unlock()
	add(t, r, "a2", "web")
	if got, err := r.Get("a1"); err != nil || got.State != "broken" {
		t.Errorf("record whose name was freed: %+v, %v", got, err)
	}
	// Forgetting the first does not free the name the second reserved.
	_, unlock, err = r.Acquire("a1")
	if err != nil {
		t.Fatal(err)
	}
	r.Forget("a1")
	unlock()
	if _, err := r.Reserve("a3", "web"); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("Reserve of a2's name: %v, want already exists", err)
	}
}

func TestAdopt(t *testing.T) {
	r := newRegistry()
	r.Adopt("a1", "web", &record{ID: "a1"})
	r.Adopt("a2", "", &record{ID: "a2"})
	if _, err := r.Reserve("b1", "web"); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("Reserve of an adopted name: %v, want already exists", err)
	}
	if _, unlock, err := r.Acquire("a2"); err != nil {
		t.Errorf("Acquire of an adopted record: %v", err)
	} else {
		unlock()
	}
}

func TestSamples(t *testing.T) {
	r := newRegistry()
	add(t, r, "a1", "web")
	if prev := r.SwapSample("a1", &sample{1}); prev != nil {
		t.Errorf("first sample replaced %v", prev)
	}
	if prev := r.SwapSample("a1", &sample{2}); prev == nil || prev.n != 1 {
		t.Errorf("second sample replaced %v, want the first", prev)
	}
}

// An operation that resolved a record and waits for its lock while another
// forgets it finds it gone instead of working on it.
func TestAcquireWaitingForForgetIsNotFound(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			r := newRegistry()
			add(t, r, "a1", "web")
			_, unlock, err := r.Acquire("a1")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				acquire := r.Acquire
				if shared {
					acquire = r.AcquireShared
				}
				rec, unlock, err := acquire("a1")
				if err == nil {
					unlock()
					err = fmt.Errorf("acquired %+v", rec)
				}
				done <- err
			}()
			waitFor(t, "the second operation to wait", func() bool { return r.Waiting("a1") == 1 })
			r.Forget("a1")
			unlock()
			if err := <-done; !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("Acquire that waited for Forget: %v, want not found", err)
			}
			if r.Waiting("a1") != 0 || r.Len() != 0 {
				t.Errorf("registry tracks %d ids after Forget", r.Len())
			}
		})
	}
}

func TestSharedHoldersKeepExclusiveOut(t *testing.T) {
	r := newRegistry()
	add(t, r, "a1", "web")
	_, runlock1, err := r.AcquireShared("a1")
	if err != nil {
		t.Fatal(err)
	}
	_, runlock2, err := r.AcquireShared("a1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.TryAcquire("a1"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("TryAcquire while shared holders hold: %v, want unavailable", err)
	}
	acquired := make(chan func(), 1)
	go func() {
		_, unlock, err := r.Acquire("a1")
		if err != nil {
			t.Error(err)
			close(acquired)
			return
		}
		acquired <- unlock
	}()
	waitFor(t, "Acquire to wait", func() bool { return r.Waiting("a1") == 1 })
	runlock1()
	select {
	case <-acquired:
		t.Fatal("Acquire did not wait for the second shared holder")
	default:
	}
	runlock2()
	if unlock := <-acquired; unlock != nil {
		unlock()
	}
}

// Many operations acquire, publish and forget records at once; run with
// -race. Every operation either works on a record that exists or is told
// it is gone.
func TestConcurrentAcquireForget(t *testing.T) {
	r := newRegistry()
	const records, workers = 20, 8
	for i := range records {
		add(t, r, fmt.Sprintf("id%02d", i), fmt.Sprintf("name%02d", i))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	forgotten := map[string]bool{}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range records {
				id := fmt.Sprintf("id%02d", (i+w)%records)
				rec, unlock, err := r.Acquire(id)
				if errors.Is(err, errdefs.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				gone := forgotten[id]
				mu.Unlock()
				if gone {
					t.Errorf("acquired %s after it was forgotten", id)
				}
				r.SwapSample(id, &sample{w})
				if w%2 == 0 {
					mu.Lock()
					forgotten[id] = true
					mu.Unlock()
					r.Forget(id)
				} else {
					rec.State = fmt.Sprintf("touched by %d", w)
					r.Publish(id, rec)
				}
				unlock()
				_, _ = r.Get(id)
				_ = r.List()
			}
		}()
	}
	wg.Wait()
	if r.Len() != 0 {
		t.Errorf("%d records survived every worker forgetting them", r.Len())
	}
}

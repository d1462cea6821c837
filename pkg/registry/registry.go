// Package registry keeps the in-memory index of crisp's records, one
// Registry each for pod sandboxes and containers: the reserved names, the
// published records readers see, a per-id operation lock, and the last
// stats sample of each record.
//
// Records are published whole and never changed afterwards, so readers
// (Get, List) need only the registry's own lock and never wait for an
// operation. An operation on a record takes the record's operation lock
// through Acquire, which re-checks after the wait that the record still
// exists: an operation that waited for a Remove finds the record gone
// (NotFound) instead of working on a forgotten one.
//
// The lifecycle of an id is Reserve (a new record: its name reserved, its
// lock held, nothing published yet) or Adopt (a record found at recovery),
// then Publish as often as it changes, and finally Forget, under the lock.
package registry

import (
	"fmt"
	"sync"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/ids"
)

// Registry indexes records of type T by id, with a stats sample of type S
// kept for each. It is safe for concurrent use.
type Registry[T, S any] struct {
	kind, field string
	clone       func(*T) *T

	mu      sync.Mutex
	entries map[string]*entry[T, S] // by id: every record reserved, published or adopted
	records map[string]*T           // by id: the published records, what lookups see
	names   map[string]string       // reserved name → id
}

// entry is what the registry keeps of one id besides its published record.
type entry[T, S any] struct {
	op   sync.RWMutex
	name string // reserved name; "" once freed
	// waiting counts the operations resolved to this entry and waiting for
	// op; guarded by the registry's mu.
	waiting int
	sample  *S
}

// New returns an empty registry. kind names the records in errors ("pod
// sandbox") and field the request field that carries their ids
// ("pod_sandbox_id"); clone copies a record deeply enough that its copy
// can be changed without changing the original.
func New[T, S any](kind, field string, clone func(*T) *T) *Registry[T, S] {
	return &Registry[T, S]{
		kind:    kind,
		field:   field,
		clone:   clone,
		entries: map[string]*entry[T, S]{},
		records: map[string]*T{},
		names:   map[string]string{},
	}
}

// Reserve reserves name for the new record id and returns id's operation
// lock, held, and its unlock. Nothing is published for id until Publish:
// lookups do not find it. A name reserved by another id is AlreadyExists.
func (r *Registry[T, S]) Reserve(id, name string) (unlock func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if other, ok := r.names[name]; ok {
		return nil, fmt.Errorf("%s name %q is reserved for %s: %w", r.kind, name, other, errdefs.ErrAlreadyExists)
	}
	if _, ok := r.entries[id]; ok {
		return nil, fmt.Errorf("%s %s: %w", r.kind, id, errdefs.ErrAlreadyExists)
	}
	e := &entry[T, S]{name: name}
	e.op.Lock()
	r.entries[id] = e
	r.names[name] = id
	return e.op.Unlock, nil
}

// Adopt publishes rec, found at recovery, as the record of id, with name
// reserved for it unless name is "".
func (r *Registry[T, S]) Adopt(id, name string, rec *T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := &entry[T, S]{name: name}
	r.entries[id] = e
	r.records[id] = rec
	if name != "" {
		r.names[name] = id
	}
}

// Publish makes rec the record of id that readers see, and returns the
// record it replaces (nil for the first). The caller holds id's operation
// lock and never changes rec again. A forgotten id is not brought back:
// ok is false then.
func (r *Registry[T, S]) Publish(id string, rec *T) (prev *T, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[id]; !ok {
		return nil, false
	}
	prev = r.records[id]
	r.records[id] = rec
	return prev, true
}

// FreeName frees the name id reserved and keeps its record: a record whose
// creation failed and could not be undone stays for its removal to be
// retried, but must not keep a new record of its name from being made.
func (r *Registry[T, S]) FreeName(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[id]; ok {
		r.freeName(id, e)
	}
}

func (r *Registry[T, S]) freeName(id string, e *entry[T, S]) {
	if e.name != "" && r.names[e.name] == id {
		delete(r.names, e.name)
	}
	e.name = ""
}

// Forget forgets id: its record, its name, its lock and its sample. It
// returns the last published record, nil if none was. The caller holds
// id's operation lock; operations waiting for it then find id NotFound.
func (r *Registry[T, S]) Forget(id string) (last *T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return nil
	}
	r.freeName(id, e)
	last = r.records[id]
	delete(r.records, id)
	delete(r.entries, id)
	return last
}

// resolve returns the whole id that id or a unique prefix of it names
// among the published records. The caller holds mu.
func (r *Registry[T, S]) resolve(id string) (string, error) {
	return ids.Resolve(r.records, id, r.kind, r.field)
}

// Get returns a copy of the record of id or a unique prefix of it.
func (r *Registry[T, S]) Get(id string) (*T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	full, err := r.resolve(id)
	if err != nil {
		return nil, err
	}
	return r.clone(r.records[full]), nil
}

// List returns copies of every published record, in no particular order.
func (r *Registry[T, S]) List() []*T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*T, 0, len(r.records))
	for _, rec := range r.records {
		out = append(out, r.clone(rec))
	}
	return out
}

// Select returns the ids of the published records that match reports true
// for, in no particular order. match sees the published records
// themselves, under the registry's lock: it must not change or keep them.
func (r *Registry[T, S]) Select(match func(*T) bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, rec := range r.records {
		if match(rec) {
			out = append(out, id)
		}
	}
	return out
}

// Acquire resolves id, or a unique prefix of it, waits for the record's
// operation lock and returns a private copy of the record, for the
// operation to change and publish, and the unlock. A record forgotten
// while the caller waited is NotFound.
func (r *Registry[T, S]) Acquire(id string) (*T, func(), error) {
	return r.acquire(id, false)
}

// AcquireShared is Acquire with the lock shared with the other
// AcquireShared callers: it keeps the record from being changed or
// forgotten by Acquire's callers until the unlock. The copy returned is the
// caller's, but must not be published.
func (r *Registry[T, S]) AcquireShared(id string) (*T, func(), error) {
	return r.acquire(id, true)
}

func (r *Registry[T, S]) acquire(id string, shared bool) (*T, func(), error) {
	r.mu.Lock()
	full, err := r.resolve(id)
	if err != nil {
		r.mu.Unlock()
		return nil, nil, err
	}
	e := r.entries[full]
	e.waiting++
	r.mu.Unlock()

	lock, unlock := e.op.Lock, e.op.Unlock
	if shared {
		lock, unlock = e.op.RLock, e.op.RUnlock
	}
	lock()

	r.mu.Lock()
	defer r.mu.Unlock()
	e.waiting--
	rec, ok := r.records[full]
	if !ok || r.entries[full] != e {
		unlock()
		return nil, nil, fmt.Errorf("%s %q: %w", r.kind, id, errdefs.ErrNotFound)
	}
	return r.clone(rec), unlock, nil
}

// TryAcquire is Acquire without the wait: while an operation holds the
// record's lock it takes nothing and returns Unavailable.
func (r *Registry[T, S]) TryAcquire(id string) (*T, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	full, err := r.resolve(id)
	if err != nil {
		return nil, nil, err
	}
	e := r.entries[full]
	if !e.op.TryLock() {
		return nil, nil, fmt.Errorf("%s %s is busy: %w", r.kind, full, errdefs.ErrUnavailable)
	}
	return r.clone(r.records[full]), e.op.Unlock, nil
}

// Waiting reports how many operations have resolved id and wait for its
// lock in Acquire or AcquireShared; 0 for an id the registry does not
// have. Tests synchronise on it.
func (r *Registry[T, S]) Waiting(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[id]; ok {
		return e.waiting
	}
	return 0
}

// SwapSample keeps s as the latest stats sample of id and returns the one
// kept before (nil for the first). Nothing is kept for an id the registry
// no longer has, so a sample taken while the record was removed does not
// outlive it.
func (r *Registry[T, S]) SwapSample(id string, s *S) (prev *S) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return nil
	}
	prev, e.sample = e.sample, s
	return prev
}

// Len returns how many ids the registry tracks: reserved, published or
// adopted, and not forgotten.
func (r *Registry[T, S]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

package store

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

type record struct {
	ID    string
	Count int
}

func TestTableRoundTripAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := NewTable[record](s, "pods")
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"b", "a", "c"} {
		if err := tbl.Put(id, &record{ID: id, Count: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tbl.Delete("c"); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Delete("never-there"); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
	if _, err := tbl.Get("c"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
	}
	s.Close()

	// Records survive a reopen, as after a daemon restart.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tbl, _ = NewTable[record](s, "pods")
	all, err := tbl.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != "a" || all[1].ID != "b" || all[1].Count != 0 {
		t.Errorf("List after reopen = %+v", all)
	}
}

func TestSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := Open(path); err == nil {
		s2.Close()
		t.Fatal("a second open of a held database succeeded")
	}
}

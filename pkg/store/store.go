// Package store owns crisp's crash-safe metadata: the records of pods and
// containers that let a restarted daemon find everything again. Records live
// in one bbolt database; every write is a committed, fsynced transaction, so
// after a crash a record is either fully there or not there at all.
package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Store is an open metadata database.
type Store struct {
	db *bolt.DB
}

// Open opens (creating if needed) the database at path. It waits briefly for
// another process holding it, then fails: one daemon owns the database.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	// The freelist is rebuilt on open instead of written on every commit:
	// commits stay crash-safe and cost one write less.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Table is a bucket of JSON records of one type, keyed by id.
type Table[T any] struct {
	db     *bolt.DB
	bucket []byte
}

// NewTable returns the table name in s, creating its bucket.
func NewTable[T any](s *Store, name string) (*Table[T], error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(name))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	}
	return &Table[T]{db: s.db, bucket: []byte(name)}, nil
}

// Put writes the record for id, replacing any previous one.
func (t *Table[T]) Put(id string, v *T) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record %s: %w", t.bucket, id, err)
	}
	return t.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(t.bucket).Put([]byte(id), data)
	})
}

// Get reads the record for id; a missing record is errdefs.ErrNotFound.
func (t *Table[T]) Get(id string) (*T, error) {
	var v *T
	err := t.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(t.bucket).Get([]byte(id))
		if data == nil {
			return fmt.Errorf("%s %s: %w", t.bucket, id, errdefs.ErrNotFound)
		}
		v = new(T)
		return json.Unmarshal(data, v)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Delete removes the record for id; deleting a missing record is no error.
func (t *Table[T]) Delete(id string) error {
	return t.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(t.bucket).Delete([]byte(id))
	})
}

// List returns every record, in id order.
func (t *Table[T]) List() ([]*T, error) {
	var out []*T
	err := t.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(t.bucket).ForEach(func(k, data []byte) error {
			v := new(T)
			if err := json.Unmarshal(data, v); err != nil {
				return fmt.Errorf("decode %s record %s: %w", t.bucket, k, err)
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}

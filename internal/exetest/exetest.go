// Package exetest places the running test binary under another name in a
// directory of its own: for tests of crisp's programs finding each other
// beside themselves (crisp's hand-over to crisp-oci and back, the daemon's
// crisp-image), and of what the kernel does with a binary's pages.
package exetest

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Place makes name, in a new temporary directory, the running test
// binary: a hard link, or a copy across file systems. It returns its
// path.
func Place(t testing.TB, name string) string {
	t.Helper()
	self, path := paths(t, name)
	if err := os.Link(self, path); err == nil {
		return path
	}
	copyFile(t, self, path, false)
	return path
}

// Copy makes name, in a new temporary directory, a copy of the running
// test binary written back to disk, so that its pages in the page cache
// are clean. It returns its path.
func Copy(t testing.TB, name string) string {
	t.Helper()
	self, path := paths(t, name)
	copyFile(t, self, path, true)
	return path
}

func paths(t testing.TB, name string) (self, path string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self, filepath.Join(t.TempDir(), name)
}

func copyFile(t testing.TB, from, to string, sync bool) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := out.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

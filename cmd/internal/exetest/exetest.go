// Package exetest places the running test binary under another name in a
// directory of its own, for tests of crisp's programs finding each other
// beside themselves (crisp's hand-over to crisp-oci and back).
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
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.Link(self, path); err == nil {
		return path
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

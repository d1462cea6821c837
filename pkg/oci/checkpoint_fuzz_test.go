package oci

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadDescriptors feeds the restore's reader of descriptors.json any
// bytes: it returns three descriptors or an error, never panics.
func FuzzReadDescriptors(f *testing.F) {
	f.Add([]byte(`["/dev/null","pipe:[1]","pipe:[2]"]`))
	f.Add([]byte(`["a","b"]`))
	f.Add([]byte(`{"0":"x"}`))
	f.Add([]byte(`[null,null,null]`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, descriptorsFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		fds, err := readDescriptors(dir)
		if err == nil && len(fds) != 3 {
			t.Fatalf("readDescriptors(%q) = %v without an error", data, fds)
		}
	})
}

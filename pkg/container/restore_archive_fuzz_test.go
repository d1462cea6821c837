package container

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtractCheckpoint feeds extractCheckpoint arbitrary archives: it
// must never write outside its directory, nor leave anything in it but
// directories and regular files, nor write more than the archive holds.
func FuzzExtractCheckpoint(f *testing.F) {
	add := func(entries ...tar.Header) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			tw.WriteHeader(&h)
			if h.Typeflag == tar.TypeReg {
				tw.Write(make([]byte, h.Size))
			}
		}
		tw.Close()
		f.Add(buf.Bytes())
	}
	add(tar.Header{Name: "config.dump", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644},
		tar.Header{Name: "checkpoint/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "checkpoint/inventory.img", Typeflag: tar.TypeReg, Size: 4})
	add(tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/"},
		tar.Header{Name: "link/escape", Typeflag: tar.TypeReg, Size: 1})
	add(tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Size: 1})
	add(tar.Header{Name: "./a/../../escape", Typeflag: tar.TypeReg, Size: 1})
	add(tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"})
	add(tar.Header{Name: "a", Typeflag: tar.TypeReg, Size: 1}, tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Size: 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dir := filepath.Join(base, "x")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = extractCheckpoint(context.Background(), bytes.NewReader(data), int64(len(data)), dir)
		if entries, _ := os.ReadDir(base); len(entries) != 1 {
			t.Fatalf("the archive wrote outside its directory: %v", entries)
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsDir() && !d.Type().IsRegular() {
				t.Errorf("%s is %v: only directories and regular files may be made", p, d.Type())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var written int64
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if fi, err := d.Info(); err == nil && d.Type().IsRegular() {
				written += fi.Size()
			}
			return nil
		})
		if written > int64(len(data)) {
			t.Errorf("a %d-byte archive unpacked to %d bytes", len(data), written)
		}
	})
}

package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree builds a cgroupfs look-alike in a temporary directory: a root
// offering controllers, and cgroups whose interface files exist (empty) so
// that writes land in plain files the test can read back.
type fakeTree struct {
	t    *testing.T
	root string
	h    *Hierarchy
}

func newFakeTree(t *testing.T, missing MissingPolicy, controllers ...string) *fakeTree {
	t.Helper()
	root := t.TempDir()
	ft := &fakeTree{t: t, root: root}
	ft.cgroup("/", controllers, nil)
	h, err := openHierarchy(root, missing)
	if err != nil {
		t.Fatal(err)
	}
	ft.h = h
	return ft
}

// cgroup creates rel with cgroup.controllers listing controllers and the
// named interface files.
func (ft *fakeTree) cgroup(rel string, controllers []string, files []string) string {
	ft.t.Helper()
	dir := filepath.Join(ft.root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		ft.t.Fatal(err)
	}
	ft.write(rel, "cgroup.controllers", strings.Join(controllers, " ")+"\n")
	ft.write(rel, "cgroup.subtree_control", "")
	for _, f := range files {
		ft.write(rel, f, "")
	}
	return dir
}

func (ft *fakeTree) write(rel, file, content string) {
	ft.t.Helper()
	if err := os.WriteFile(filepath.Join(ft.root, rel, file), []byte(content), 0o644); err != nil {
		ft.t.Fatal(err)
	}
}

func (ft *fakeTree) read(rel, file string) string {
	ft.t.Helper()
	data, err := os.ReadFile(filepath.Join(ft.root, rel, file))
	if err != nil {
		ft.t.Fatal(err)
	}
	return string(data)
}

func (ft *fakeTree) manager(cgroupsPath string) *Manager {
	ft.t.Helper()
	m, err := NewManager(ft.h, cgroupsPath)
	if err != nil {
		ft.t.Fatal(err)
	}
	return m
}

package oci

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// children returns the pids whose parent is this process, after reaping
// the zombies among them.
func children(t *testing.T) []int {
	t.Helper()
	for {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			break
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if ppid, _ := strconv.Atoi(fields[1]); ppid == os.Getpid() {
			kids = append(kids, pid)
		}
	}
	return kids
}

// After any failed create no mount, cgroup, state directory or process is
// left behind.
func TestFailedCreateLeavesNothing(t *testing.T) {
	rt := newTestRuntime(t)
	// Orphaned monitors become our children, so that leftovers show.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	one := 1
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
		want string
	}{
		{"missing binary", func(s *specs.Spec) { s.Process.Args = []string{"/no/such/binary"} }, "process.args[0]"},
		{"missing bind source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/no/such/dir", Options: []string{"bind"}})
		}, "mounts[7]"},
		{"unknown file system", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "nosuchfs", Source: "none"})
		}, "mounts[7]"},
		{"bad cwd", func(s *specs.Spec) { s.Process.Cwd = "/no/such/dir" }, "process.cwd"},
		{"failing createRuntime hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
		}, "createRuntime hook 0"},
		{"hook timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &one}}}
		}, "timed out"},
		{"failing createContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/false"}}}
		}, "createContainer hook 0"},
		{"bad namespace path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "/no/such/ns" }, "open namespace"},
		{"unmapped user namespace root", func(s *specs.Spec) {
			userSpec(s)
			s.Linux.UIDMappings[0].Size = 0 // the kernel refuses an empty range
		}, "uid_map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kidsBefore := children(t)
			spec := testSpec(t, "true")
			tc.edit(spec)
			err := rt.Create(context.Background(), "leak", writeBundle(t, spec), CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create error %v, want one about %s", err, tc.want)
			}
			if _, err := os.Stat(rt.dir("leak")); !os.IsNotExist(err) {
				t.Errorf("state directory left behind (%v)", err)
			}
			if _, err := os.Stat(filepath.Join(rt.cgroupMount, spec.Linux.CgroupsPath)); !os.IsNotExist(err) {
				t.Errorf("cgroup left behind (%v)", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(children(t)) > len(kidsBefore) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if kids := children(t); len(kids) > len(kidsBefore) {
				t.Errorf("processes left behind: %v", kids)
			}
			// Other software may mount meanwhile: look for crisp's paths.
			mounts, err := os.ReadFile("/proc/self/mountinfo")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(mounts), "\n") {
				if strings.Contains(line, busyboxRootfs(t)) || strings.Contains(line, rt.Root()) {
					t.Errorf("mount left behind: %s", line)
				}
			}
		})
	}
}

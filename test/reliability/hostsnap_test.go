package reliability

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// hostMarker is in the name of every file a hostile request tries to make
// outside crisp's directories: finding it anywhere is a breach.
const hostMarker = "crisp-hostile"

// hostSysctls are the host values the hostile cases try to change: the
// UTS names and the host-wide knobs, read in the test's namespaces.
var hostSysctls = []string{
	"kernel/hostname", "kernel/domainname", "kernel/panic", "kernel/core_pattern",
	"kernel/shm_rmid_forced", "kernel/msgmax", "vm/swappiness", "fs/file-max",
}

// netnsSysctls are read in the daemon's network namespace, which is the
// host network of its host-network pods.
var netnsSysctls = []string{"net/ipv4/ip_forward", "net/ipv4/ip_unprivileged_port_start"}

// fileStamp is what a snapshot keeps of a file.
type fileStamp struct {
	mode    fs.FileMode
	size    int64
	modTime time.Time
}

// hostSnapshot is the part of the host a CRI request must never change.
type hostSnapshot struct {
	etc     map[string]fileStamp
	logs    map[string]fileStamp
	sysctls map[string]string
	marked  []string
}

// snapshotHost records /etc, the tree of the pods' log directories, the
// sysctls above, and every file named with hostMarker in /, /etc, /tmp
// and the daemon's directory.
func snapshotHost(t *testing.T, e *env) *hostSnapshot {
	t.Helper()
	s := &hostSnapshot{etc: stampTree(t, "/etc"), logs: stampTree(t, e.logs), sysctls: map[string]string{}}
	for _, k := range hostSysctls {
		v, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			t.Fatal(err)
		}
		s.sysctls[k] = string(v)
	}
	values, err := readInNetns(e.d.Netns, netnsSysctls)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		s.sysctls["netns:"+k] = v
	}
	// A traversal resolves against a directory deep in /tmp: look a few
	// levels down.
	for _, dir := range []string{"/", "/etc", "/tmp", e.d.Dir} {
		s.marked = append(s.marked, findMarked(dir, 3)...)
	}
	sort.Strings(s.marked)
	s.marked = slices.Compact(s.marked)
	return s
}

// readInNetns reads sysctls (paths below /proc/sys) as seen in the
// network namespace at path: /proc/sys/net shows the namespace of the
// thread that opens it.
func readInNetns(path string, sysctls []string) (map[string]string, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	values := map[string]string{}
	for _, k := range sysctls {
		v, rerr := os.ReadFile("/proc/sys/" + k)
		if rerr != nil {
			err = fmt.Errorf("read %s in %s: %w", k, path, rerr)
			break
		}
		values[k] = string(v)
	}
	// A thread that cannot go back stays locked and ends with its
	// goroutine.
	if serr := netns.Set(orig); serr == nil {
		runtime.UnlockOSThread()
	} else if err == nil {
		err = serr
	}
	return values, err
}

// findMarked lists the files named with hostMarker below dir, at most
// depth levels down.
func findMarked(dir string, depth int) []string {
	var found []string
	des, _ := os.ReadDir(dir)
	for _, d := range des {
		p := filepath.Join(dir, d.Name())
		if strings.Contains(d.Name(), hostMarker) {
			found = append(found, p)
		}
		if d.IsDir() && depth > 1 && p != "/proc" && p != "/sys" {
			found = append(found, findMarked(p, depth-1)...)
		}
	}
	return found
}

// stampTree stamps every file below root, without following symlinks.
func stampTree(t *testing.T, root string) map[string]fileStamp {
	t.Helper()
	m := map[string]fileStamp{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or gone meanwhile: not ours to judge
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		m[p] = fileStamp{mode: fi.Mode(), size: fi.Size(), modTime: fi.ModTime()}
		return nil
	})
	return m
}

// diff lists what changed from s to after.
func (s *hostSnapshot) diff(after *hostSnapshot) []string {
	var out []string
	for name, tree := range map[string][2]map[string]fileStamp{"/etc": {s.etc, after.etc}, "log dirs": {s.logs, after.logs}} {
		for p, a := range tree[1] {
			b, ok := tree[0][p]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s: %s appeared", name, p))
			case a != b && !(a.mode.IsDir() && b.mode.IsDir() && a.mode == b.mode):
				// A directory's times change with its entries, which are
				// compared themselves.
				out = append(out, fmt.Sprintf("%s: %s changed (%v %d %v -> %v %d %v)", name, p, b.mode, b.size, b.modTime, a.mode, a.size, a.modTime))
			}
		}
		for p := range tree[0] {
			if _, ok := tree[1][p]; !ok {
				out = append(out, fmt.Sprintf("%s: %s disappeared", name, p))
			}
		}
	}
	for k, v := range s.sysctls {
		if after.sysctls[k] != v {
			out = append(out, fmt.Sprintf("sysctl %s changed from %q to %q", k, strings.TrimSpace(v), strings.TrimSpace(after.sysctls[k])))
		}
	}
	if strings.Join(s.marked, "\n") != strings.Join(after.marked, "\n") {
		out = append(out, fmt.Sprintf("files named %s: %v, then %v", hostMarker, s.marked, after.marked))
	}
	sort.Strings(out)
	return out
}

// restore writes back the host sysctls a breach changed and removes the
// marked files it made, so that one failing case does not change the host
// for the others.
func (s *hostSnapshot) restore(t *testing.T, e *env, after *hostSnapshot) {
	for _, p := range after.marked {
		if !slices.Contains(s.marked, p) {
			os.Remove(p)
		}
	}
	for k, v := range s.sysctls {
		if after.sysctls[k] == v {
			continue
		}
		var err error
		if name, ok := strings.CutPrefix(k, "netns:"); ok {
			err = exec.Command("nsenter", "--net="+e.d.Netns, "sh", "-c", `printf %s "$1" > "/proc/sys/$2"`, "sh", v, name).Run()
		} else {
			err = os.WriteFile("/proc/sys/"+k, []byte(v), 0o644)
		}
		if err != nil {
			t.Errorf("restore sysctl %s: %v", k, err)
		}
	}
}

package reliability

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	bolt "go.etcd.io/bbolt"
)

// Footprint names everything one crisp daemon may leave on the host: its
// directories, the network namespace it runs in, its pod network and the
// cgroup its pods are placed under. Leaks lists what remains there.
type Footprint struct {
	// Root and State are the daemon's root and state directories.
	Root, State string
	// Netns is the path of the network namespace the daemon runs in; the
	// pod network's bridge, Bridge, may remain there.
	Netns, Bridge string
	// IPAMDir is host-local's data dir and Network the CNI network name:
	// leases are files in IPAMDir/Network.
	IPAMDir, Network string
	// CgroupParent is the absolute path of the cgroup every pod of the
	// test is created below; it may remain, empty.
	CgroupParent string
	// Owned are paths whose appearance in a process's open files,
	// working directory, environment or command line marks it as one of
	// the daemon's (its directories, its pods' log directories).
	Owned []string
	// Exclude are process ids that are the test's own (the network
	// namespace holder).
	Exclude []int
	// Layers are the storage layers that existed before the test made
	// any container: the image's. Every other layer is a writable layer.
	Layers map[string]bool
}

// storageDir is where crisp keeps go.podman.io/storage's graph root.
func (f *Footprint) storageDir() string { return filepath.Join(f.Root, "storage") }

// StorageLayers lists the layer ids in storage's layer store.
func (f *Footprint) StorageLayers() (map[string]bool, error) {
	var layers []struct {
		ID string `json:"id"`
	}
	if err := readJSONList(filepath.Join(f.storageDir(), "overlay-layers", "layers.json"), &layers); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, l := range layers {
		ids[l.ID] = true
	}
	return ids, nil
}

// Leaks lists every object of the footprint that remains. It must run with
// the daemon stopped: it opens the daemon's record database.
func (f *Footprint) Leaks() ([]string, error) {
	var leaks []string
	for _, check := range []func() ([]string, error){
		f.mounts, f.pins, f.executorState, f.veths, f.leases, f.cniCache,
		f.cgroups, f.writableLayers, f.records, f.processes,
	} {
		found, err := check()
		if err != nil {
			return leaks, err
		}
		leaks = append(leaks, found...)
	}
	return leaks, nil
}

// mounts are mount points below the daemon's directories, other than the
// two the daemon keeps for its own life: the namespace pin directory, a
// private mount point, and storage's overlay directory.
func (f *Footprint) mounts() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{
		filepath.Join(f.State, "ns"):             true,
		filepath.Join(f.storageDir(), "overlay"): true,
	}
	var leaks []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if (within(mp, f.Root) || within(mp, f.State)) && !allowed[mp] {
			leaks = append(leaks, "mount "+mp)
		}
	}
	return leaks, nil
}

// unescapeMountinfo undoes the octal escapes of mountinfo's path fields.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pins are the pods' pinned namespaces: <state>/ns/<type>/<pod>.
func (f *Footprint) pins() ([]string, error) {
	kinds, err := os.ReadDir(filepath.Join(f.State, "ns"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var leaks []string
	for _, k := range kinds {
		if !k.IsDir() {
			leaks = append(leaks, "namespace pin "+filepath.Join(f.State, "ns", k.Name()))
			continue
		}
		found, err := entries(filepath.Join(f.State, "ns", k.Name()), "namespace pin", nil)
		if err != nil {
			return nil, err
		}
		leaks = append(leaks, found...)
	}
	return leaks, nil
}

// executorState is the OCI executor's per-container state directories.
func (f *Footprint) executorState() ([]string, error) {
	return entries(filepath.Join(f.State, "oci"), "executor state", nil)
}

// veths are veth devices in the daemon's network namespace: only pods
// make them.
func (f *Footprint) veths() ([]string, error) {
	ns, err := netns.GetFromPath(f.Netns)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", f.Netns, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var leaks []string
	for _, l := range links {
		a := l.Attrs()
		if l.Type() == "veth" {
			leaks = append(leaks, "veth "+a.Name)
		} else if l.Type() != "bridge" && a.Name != "lo" {
			leaks = append(leaks, fmt.Sprintf("link %s (%s)", a.Name, l.Type()))
		} else if l.Type() == "bridge" && a.Name != f.Bridge {
			leaks = append(leaks, "bridge "+a.Name)
		}
	}
	return leaks, nil
}

// leases are host-local's reservations: one file per address.
func (f *Footprint) leases() ([]string, error) {
	return entries(filepath.Join(f.IPAMDir, f.Network), "IPAM lease", func(name string) bool {
		return name == "lock" || strings.HasPrefix(name, "last_reserved_ip")
	})
}

// cniCache is libcni's cache of attachment results under the daemon's
// root: an entry there is an attachment CNI DEL has not undone.
func (f *Footprint) cniCache() ([]string, error) {
	var leaks []string
	err := filepath.WalkDir(filepath.Join(f.Root, "cni"), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			leaks = append(leaks, "CNI cache "+p)
		}
		return nil
	})
	return leaks, err
}

// cgroups are cgroups below the test's cgroup parent, and processes in
// the parent itself.
func (f *Footprint) cgroups() ([]string, error) {
	var leaks []string
	err := filepath.WalkDir(f.CgroupParent, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() && p != f.CgroupParent {
			leaks = append(leaks, "cgroup "+p)
		}
		return nil
	})
	if procs, _ := os.ReadFile(filepath.Join(f.CgroupParent, "cgroup.procs")); len(bytes.TrimSpace(procs)) != 0 {
		leaks = append(leaks, fmt.Sprintf("processes in %s: %s", f.CgroupParent, bytes.Fields(procs)))
	}
	return leaks, err
}

// writableLayers are storage's container records and every layer that
// is not one of the image's, with its overlay directory.
func (f *Footprint) writableLayers() ([]string, error) {
	var leaks []string
	var containers []struct {
		ID    string `json:"id"`
		Layer string `json:"layer"`
	}
	if err := readJSONList(filepath.Join(f.storageDir(), "overlay-containers", "containers.json"), &containers); err != nil {
		return nil, err
	}
	for _, c := range containers {
		leaks = append(leaks, fmt.Sprintf("storage container %s (layer %s)", c.ID, c.Layer))
	}
	layers, err := f.StorageLayers()
	if err != nil {
		return nil, err
	}
	for id := range layers {
		if !f.Layers[id] {
			leaks = append(leaks, "storage layer "+id)
		}
	}
	dirs, err := os.ReadDir(filepath.Join(f.storageDir(), "overlay"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, d := range dirs {
		// Besides the layers, the driver keeps its short-name links (l),
		// its scratch space (tempdirs) and feature markers (dot files).
		switch name := d.Name(); {
		case name == "l" || strings.HasPrefix(name, "."):
		case name == "tempdirs":
			found, err := entries(filepath.Join(f.storageDir(), "overlay", name), "overlay temp dir", nil)
			if err != nil {
				return nil, err
			}
			leaks = append(leaks, found...)
		case !f.Layers[name]:
			leaks = append(leaks, "overlay dir "+name)
		}
	}
	return leaks, nil
}

// readJSONList decodes a storage JSON list; a missing file is an empty one.
func readJSONList(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// records are the pod and container records in the daemon's database.
func (f *Footprint) records() ([]string, error) {
	path := filepath.Join(f.Root, "crisp.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s (is the daemon stopped?): %w", path, err)
	}
	defer db.Close()
	var leaks []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(bucket []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error {
				leaks = append(leaks, fmt.Sprintf("record %s/%s", bucket, k))
				return nil
			})
		})
	})
	return leaks, err
}

// processes are processes that belong to the daemon's pods or containers:
// those in a cgroup below the parent, and those (monitors, reapers, a
// container's processes) holding or naming one of the owned paths.
func (f *Footprint) processes() ([]string, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	cgroupRel := strings.TrimPrefix(f.CgroupParent, cgroupMountOf(f.CgroupParent))
	self := os.Getpid()
	var leaks []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self || slices.Contains(f.Exclude, pid) || zombie(pid) {
			continue
		}
		if why := f.owns(pid, cgroupRel); why != "" {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			leaks = append(leaks, fmt.Sprintf("process %d %q (%s)", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), why))
		}
	}
	return leaks, nil
}

// zombie reports whether pid has exited and waits for its parent. A
// reaper or monitor the daemon killed is reparented to the init process
// when the daemon was killed, and stays a zombie until init reaps it: it
// holds nothing but its process id.
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone meanwhile
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

// owns says why process pid is the daemon's, or "" when it is not.
func (f *Footprint) owns(pid int, cgroupRel string) string {
	dir := fmt.Sprintf("/proc/%d", pid)
	if cg, err := os.ReadFile(dir + "/cgroup"); err == nil {
		for _, line := range strings.Split(string(cg), "\n") {
			if path, ok := strings.CutPrefix(line, "0::"); ok && within(path, cgroupRel) {
				return "cgroup " + path
			}
		}
	}
	for _, name := range []string{"cmdline", "environ"} {
		data, _ := os.ReadFile(dir + "/" + name)
		for _, o := range f.Owned {
			if bytes.Contains(data, []byte(o)) {
				return name + " names " + o
			}
		}
	}
	links := []string{dir + "/cwd", dir + "/root"}
	fds, _ := os.ReadDir(dir + "/fd")
	for _, fd := range fds {
		links = append(links, dir+"/fd/"+fd.Name())
	}
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		for _, o := range f.Owned {
			if within(target, o) {
				return filepath.Base(l) + " -> " + target
			}
		}
	}
	return ""
}

// cgroupMountOf is the cgroup2 mount point a cgroup path is below.
func cgroupMountOf(path string) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	best := ""
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if within(path, mp) && len(mp) > len(best) {
			best = mp
		}
	}
	return best
}

// entries lists what is in dir, but names skip accepts, as leaks of kind.
func entries(dir, kind string, skip func(string) bool) ([]string, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var leaks []string
	for _, d := range des {
		if skip == nil || !skip(d.Name()) {
			leaks = append(leaks, kind+" "+filepath.Join(dir, d.Name()))
		}
	}
	sort.Strings(leaks)
	return leaks, nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

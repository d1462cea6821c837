package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// DefaultMount is where a pure cgroup v2 host mounts the unified hierarchy.
const DefaultMount = "/sys/fs/cgroup"

// MissingPolicy says what happens to a requested limit whose controller the
// hierarchy does not offer.
type MissingPolicy int

const (
	// MissingError fails the request with an error naming the controller.
	MissingError MissingPolicy = iota
	// MissingWarn logs the limit, skips it and records the controller so
	// that Status can report it.
	MissingWarn
)

// ParseMissingPolicy converts the configuration words "error" and "warn".
func ParseMissingPolicy(s string) (MissingPolicy, error) {
	switch s {
	case "", "error":
		return MissingError, nil
	case "warn":
		return MissingWarn, nil
	}
	return MissingError, errdefs.InvalidField("cgroup.missing_controller", fmt.Sprintf("%q is not one of error, warn", s))
}

// String returns the configuration word for p.
func (p MissingPolicy) String() string {
	if p == MissingWarn {
		return "warn"
	}
	return "error"
}

// Hierarchy is a mounted cgroup v2 hierarchy and the controllers it offers.
// It is safe for concurrent use.
type Hierarchy struct {
	mount     string
	available []string
	missing   MissingPolicy

	mu      sync.Mutex
	skipped map[string]struct{}
	systemd *systemdConn

	// devicePrograms are the device programs the hierarchy's cgroups
	// share.
	devicePrograms devicePrograms
}

// OpenHierarchy opens the cgroup2 hierarchy mounted at mount ("" means
// DefaultMount). It fails with a message saying what to configure when mount
// is not a cgroup2 file system, as on a v1 or hybrid host.
func OpenHierarchy(mount string, missing MissingPolicy) (*Hierarchy, error) {
	if mount == "" {
		mount = DefaultMount
	}
	if !filepath.IsAbs(mount) {
		return nil, errdefs.InvalidField("cgroup.mount", fmt.Sprintf("%q is not an absolute path", mount))
	}
	mount = filepath.Clean(mount)
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil {
		return nil, fmt.Errorf("cgroup mount %s: %w", mount, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("%w: %s", errdefs.ErrFailedPrecondition, notCgroup2Message(mount))
	}
	return openHierarchy(mount, missing)
}

// openHierarchy opens a hierarchy without checking the file system type, so
// that unit tests can run against a fake cgroupfs tree in a temporary
// directory.
func openHierarchy(mount string, missing MissingPolicy) (*Hierarchy, error) {
	data, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("cgroup mount %s: read controllers: %w", mount, err)
	}
	avail := strings.Fields(string(data))
	slices.Sort(avail)
	return &Hierarchy{mount: mount, available: avail, missing: missing, skipped: map[string]struct{}{}}, nil
}

// notCgroup2Message explains why mount cannot be used and, on a hybrid host,
// where the cgroup2 mount is.
func notCgroup2Message(mount string) string {
	msg := fmt.Sprintf("%s is not a cgroup v2 (cgroup2) mount: crisp needs the unified hierarchy, and this host uses cgroup v1 or hybrid mode", mount)
	if others := cgroup2Mounts(); len(others) > 0 {
		return msg + fmt.Sprintf("; a cgroup2 mount exists at %s: set [cgroup] mount to it to run with the controllers it offers, or boot with systemd.unified_cgroup_hierarchy=1", strings.Join(others, ", "))
	}
	return msg + "; boot with systemd.unified_cgroup_hierarchy=1 or mount cgroup2"
}

// FindMount returns the cgroup2 hierarchy of this host: DefaultMount on a
// pure cgroup v2 host, the first cgroup2 mount elsewhere (on a hybrid host,
// typically /sys/fs/cgroup/unified), or "" when there is none.
func FindMount() string {
	var st unix.Statfs_t
	if unix.Statfs(DefaultMount, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return DefaultMount
	}
	if mounts := cgroup2Mounts(); len(mounts) > 0 {
		return mounts[0]
	}
	return ""
}

// cgroup2Mounts lists the mount points of cgroup2 file systems in this mount
// namespace.
func cgroup2Mounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// mountinfo(5): fields after the " - " separator start with the
		// file system type.
		line := sc.Text()
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		if fs := strings.Fields(post); len(fs) == 0 || fs[0] != "cgroup2" {
			continue
		}
		if fs := strings.Fields(pre); len(fs) >= 5 {
			mounts = append(mounts, unescapeMountPath(fs[4]))
		}
	}
	return mounts
}

// unescapeMountPath undoes the octal escaping of mountinfo paths.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Close releases what the hierarchy holds: its systemd connection and the
// device programs kept for reuse (cgroups keep those attached to them).
func (h *Hierarchy) Close() error {
	h.closeSystemd()
	h.devicePrograms.close()
	return nil
}

// Mount returns the directory the hierarchy is mounted on.
func (h *Hierarchy) Mount() string { return h.mount }

// Available returns the controllers listed in the root cgroup.controllers,
// sorted.
func (h *Hierarchy) Available() []string { return slices.Clone(h.available) }

// Has reports whether the hierarchy offers controller.
func (h *Hierarchy) Has(controller string) bool {
	_, found := slices.BinarySearch(h.available, controller)
	return found
}

// MissingPolicy returns what happens to limits for missing controllers.
func (h *Hierarchy) MissingPolicy() MissingPolicy { return h.missing }

// Skipped returns the controllers for which limits were skipped under the
// MissingWarn policy, sorted. Status reports them to kubelet.
func (h *Hierarchy) Skipped() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.skipped))
	for c := range h.skipped {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// missingController handles a requested limit (what) whose controller is not
// enabled in cgroup dir: an error under MissingError, a logged and recorded
// skip under MissingWarn.
func (h *Hierarchy) missingController(controller, what, dir string) error {
	if h.missing == MissingError {
		return fmt.Errorf("%s: cgroup controller %q is not available in %s (the hierarchy offers: %s): %w",
			what, controller, dir, strings.Join(h.available, " "), errdefs.ErrFailedPrecondition)
	}
	h.mu.Lock()
	h.skipped[controller] = struct{}{}
	h.mu.Unlock()
	klog.InfoS("Skipping limit: cgroup controller not available", "controller", controller, "limit", what, "cgroup", dir)
	return nil
}

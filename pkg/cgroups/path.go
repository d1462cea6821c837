package cgroups

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// cgroupsPathField is the OCI field a cgroupsPath comes from; errors name it.
const cgroupsPathField = "linux.cgroupsPath"

// location is a parsed cgroupsPath: the directory relative to the mount and,
// for the systemd driver, the unit that owns it.
type location struct {
	// rel is the cgroup directory relative to the hierarchy mount, with a
	// leading slash.
	rel string
	// unit is the systemd unit owning rel ("" for the cgroupfs driver):
	// a scope, or a slice when the cgroupsPath names one.
	unit string
	// slice is the systemd slice the unit lives in.
	slice string
}

func (l location) systemd() bool { return l.unit != "" }

// parseCgroupsPath accepts the two OCI forms: "/a/b/c" for cgroupfs, relative
// to the hierarchy mount, and "slice:prefix:name" for systemd, as runc reads
// it (unit "prefix-name.scope" in slice, or the slice "name" itself when name
// ends in ".slice").
func parseCgroupsPath(p string) (location, error) {
	if p == "" {
		return location{}, errdefs.InvalidField(cgroupsPathField, "must not be empty")
	}
	// No cgroup directory can be named by a path this long: mkdir(2)
	// refuses it with ENAMETOOLONG.
	if len(p) >= unix.PathMax {
		return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("is %d bytes; a path has fewer than %d", len(p), unix.PathMax))
	}
	if strings.HasPrefix(p, "/") {
		if strings.Contains(p, ":") {
			return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q mixes a cgroupfs path with systemd slice:prefix:name syntax", p))
		}
		for _, elem := range strings.Split(p, "/") {
			if elem == ".." {
				return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q must not contain \"..\"", p))
			}
		}
		clean := path.Clean(p)
		if clean == "/" {
			return location{}, errdefs.InvalidField(cgroupsPathField, "must name a cgroup below the root, not the root itself")
		}
		for _, elem := range strings.Split(clean[1:], "/") {
			if err := checkCgroupName(elem); err != nil {
				return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q: %v", p, err))
			}
		}
		return location{rel: clean}, nil
	}
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q is neither an absolute cgroupfs path nor systemd slice:prefix:name", p))
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if name == "" {
		return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q: systemd unit name is empty", p))
	}
	if strings.HasSuffix(name, ".slice") {
		// The path names a slice unit: its place follows from its name.
		dir, err := expandSlice(name)
		if err != nil {
			return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q: %v", p, err))
		}
		parent := parentSlice(name)
		if slice != "" && slice != parent {
			return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q: slice %s is not the parent of %s (%s is)", p, slice, name, parent))
		}
		return location{rel: dir, unit: name, slice: parent}, nil
	}
	if slice == "" {
		slice = "system.slice"
	}
	sliceDir, err := expandSlice(slice)
	if err != nil {
		return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q: %v", p, err))
	}
	unit := name + ".scope"
	if prefix != "" {
		unit = prefix + "-" + unit
	}
	if err := checkUnitName(unit); err != nil {
		return location{}, errdefs.InvalidField(cgroupsPathField, fmt.Sprintf("%q: %v", p, err))
	}
	return location{rel: path.Join(sliceDir, unit), unit: unit, slice: slice}, nil
}

// checkCgroupName rejects directory names the kernel or crisp cannot use as a
// cgroup: ones that could be mistaken for interface files.
func checkCgroupName(name string) error {
	switch {
	case name == "" || name == ".":
		return fmt.Errorf("empty path element")
	case strings.HasPrefix(name, "cgroup."):
		return fmt.Errorf("element %q collides with cgroup core interface files", name)
	case strings.ContainsAny(name, "\n\x00"):
		return fmt.Errorf("element %q contains a control character", name)
	}
	return nil
}

// checkUnitName accepts the characters systemd allows in unit names.
func checkUnitName(unit string) error {
	if len(unit) > 255 {
		return fmt.Errorf("systemd unit name %q is longer than 255 bytes", unit)
	}
	for _, r := range unit {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(":-_.\\@", r):
		default:
			return fmt.Errorf("systemd unit name %q contains %q", unit, r)
		}
	}
	return nil
}

// expandSlice turns a slice unit name into its cgroup directory:
// "kubepods-burstable-pod1.slice" is
// "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
// and "-.slice" is the root.
func expandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || strings.Contains(slice, "/") {
		return "", fmt.Errorf("%q is not a systemd slice name", slice)
	}
	if name == "-" {
		return "/", nil
	}
	if name == "" || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.Contains(name, "--") {
		return "", fmt.Errorf("%q is not a valid systemd slice name", slice)
	}
	if err := checkUnitName(slice); err != nil {
		return "", err
	}
	var b strings.Builder
	prefix := ""
	for _, comp := range strings.Split(name, "-") {
		b.WriteString("/" + prefix + comp + ".slice")
		prefix += comp + "-"
	}
	return b.String(), nil
}

// parentSlice returns the slice containing slice: "a-b.slice" is in
// "a.slice", and top-level slices are in "-.slice".
func parentSlice(slice string) string {
	name := strings.TrimSuffix(slice, ".slice")
	i := strings.LastIndex(name, "-")
	if i <= 0 {
		return "-.slice"
	}
	return name[:i] + ".slice"
}

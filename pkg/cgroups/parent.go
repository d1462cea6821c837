package cgroups

import (
	"fmt"
	"path"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Cgroup drivers, as RuntimeConfig reports them to kubelet.
const (
	DriverCgroupfs = "cgroupfs"
	DriverSystemd  = "systemd"
)

// cgroupParentField is the CRI field kubelet's parent cgroup comes in.
const cgroupParentField = "config.linux.cgroup_parent"

// containerUnitPrefix prefixes crisp's container cgroups: directories
// "crisp-<id>" for cgroupfs, scopes "crisp-<id>.scope" for systemd.
const containerUnitPrefix = "crisp"

// PodCgroupsPath returns the OCI cgroupsPath of a pod's cgroup: the
// CgroupParent kubelet passes in RunPodSandbox, in the form the driver
// expects, "/kubepods/burstable/pod<uid>" for cgroupfs and
// "kubepods-burstable-pod<uid>.slice" for systemd, which kubelet sends
// expanded to the slice's path
// ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice").
// A parent in the other driver's form is rejected: kubelet and crisp must
// agree on the driver.
// Without a parent (crictl) the pod gets crisp's own: "/crisp/pod-<podID>"
// or "crisp-pod<podID>.slice".
func PodCgroupsPath(driver, cgroupParent, podID string) (string, error) {
	if err := checkID("pod id", podID); err != nil {
		return "", err
	}
	switch driver {
	case DriverCgroupfs:
		if cgroupParent == "" {
			return "/crisp/pod-" + podID, nil
		}
		if err := checkCgroupfsParent(cgroupParent); err != nil {
			return "", err
		}
		return path.Clean(cgroupParent), nil
	case DriverSystemd:
		if cgroupParent == "" {
			cgroupParent = "crisp-pod" + podID + ".slice"
		}
		slice, err := systemdParentSlice(cgroupParent)
		if err != nil {
			return "", err
		}
		return parentSlice(slice) + "::" + slice, nil
	}
	return "", fmt.Errorf("cgroup driver %q is not one of cgroupfs, systemd: %w", driver, errdefs.ErrInvalidArgument)
}

// ContainerCgroupsPath returns the OCI cgroupsPath of a container's cgroup:
// a child of its pod's cgroup, "<parent>/crisp-<id>" for cgroupfs and the
// scope "crisp-<id>.scope" in the pod's slice for systemd.
func ContainerCgroupsPath(driver, cgroupParent, podID, containerID string) (string, error) {
	pod, err := PodCgroupsPath(driver, cgroupParent, podID)
	if err != nil {
		return "", err
	}
	if err := checkID("container id", containerID); err != nil {
		return "", err
	}
	if driver == DriverSystemd {
		// pod is "<parent slice>::<pod slice>".
		slice := pod[strings.LastIndex(pod, ":")+1:]
		return slice + ":" + containerUnitPrefix + ":" + containerID, nil
	}
	return pod + "/" + containerUnitPrefix + "-" + containerID, nil
}

func checkCgroupfsParent(parent string) error {
	if strings.HasSuffix(parent, ".slice") && !strings.Contains(parent, "/") {
		return errdefs.InvalidField(cgroupParentField, fmt.Sprintf("%q is a systemd slice but crisp's cgroup driver is cgroupfs: configure kubelet's cgroupDriver and crisp's [cgroup] driver alike", parent))
	}
	if _, err := parseCgroupsPath(parent); err != nil || !strings.HasPrefix(parent, "/") {
		return errdefs.InvalidField(cgroupParentField, fmt.Sprintf("%q is not an absolute cgroup path like /kubepods/burstable/pod<uid>", parent))
	}
	return nil
}

// systemdParentSlice returns the slice a systemd-driver parent names: the
// parent itself, or the last element of a path that is exactly that
// slice's expansion, which is what kubelet sends. Any other path is a
// cgroupfs one.
func systemdParentSlice(parent string) (string, error) {
	slice := parent
	if strings.HasPrefix(parent, "/") {
		slice = path.Base(parent)
		if p, err := expandSlice(slice); err != nil || p != parent {
			return "", errdefs.InvalidField(cgroupParentField, fmt.Sprintf("%q is a cgroupfs path but crisp's cgroup driver is systemd: configure kubelet's cgroupDriver and crisp's [cgroup] driver alike", parent))
		}
	}
	// A colon would split the "slice:prefix:name" cgroupsPath the slice
	// goes into; systemd allows it in unit names, kubelet never uses it.
	if _, err := expandSlice(slice); err != nil || slice == "-.slice" || strings.Contains(slice, ":") {
		return "", errdefs.InvalidField(cgroupParentField, fmt.Sprintf("%q is not a systemd slice like kubepods-burstable-pod<uid>.slice", parent))
	}
	return slice, nil
}

// maxID is the longest id a cgroup or unit is named after: crisp's ids are
// 64 hex digits ("reaper" and a pod's id for a pod's reaper), and a much
// longer one could make a unit name longer than systemd's 255 bytes.
const maxID = 128

// checkID accepts the ids crisp names cgroups and units after: letters,
// digits and underscores, which need no escaping as path elements or unit
// names and cannot nest slices, at most maxID of them.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s is empty: %w", what, errdefs.ErrInvalidArgument)
	}
	if len(id) > maxID {
		return fmt.Errorf("%s is longer than %d bytes: %w", what, maxID, errdefs.ErrInvalidArgument)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("%s %q contains %q: %w", what, id, r, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

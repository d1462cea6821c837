package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	graphdriver "go.podman.io/storage/drivers"
	"k8s.io/klog/v2"
)

// chooseDriver returns the driver to open root with. A root that already
// holds vfs layers (an earlier fallback) stays on vfs, or its images would
// vanish when overlay becomes usable.
func chooseDriver(root, configured string) (string, error) {
	switch configured {
	case DriverOverlay, DriverVFS:
	default:
		return "", fmt.Errorf("storage driver %q is not one of %s, %s", configured, DriverOverlay, DriverVFS)
	}
	if configured == DriverOverlay && exists(filepath.Join(root, "vfs-layers")) && !exists(filepath.Join(root, "overlay-layers")) {
		klog.InfoS("WARNING: image storage holds vfs layers; staying on vfs", "root", root)
		return DriverVFS, nil
	}
	return configured, nil
}

// isDriverUnsupported reports whether err says the driver cannot work on this
// kernel or backing filesystem (as opposed to a broken storage).
func isDriverUnsupported(err error) bool {
	return errors.Is(err, graphdriver.ErrNotSupported) ||
		errors.Is(err, graphdriver.ErrPrerequisites) ||
		errors.Is(err, graphdriver.ErrIncompatibleFS)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

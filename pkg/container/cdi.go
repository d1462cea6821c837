package container

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// maxCDIDevices bounds the CDI devices one container may ask for, and
// maxCDIName a device's name (a vendor domain, a class and a name), so that
// no error echoes a huge one.
const (
	maxCDIDevices = 128
	maxCDIName    = 1024
)

// cdiDevices returns the fully qualified CDI device names a container
// asks for: config.cdi_devices, then the devices of the cdi.k8s.io
// annotations that device plugins set.
func cdiDevices(cfg *runtimeapi.ContainerConfig) ([]string, error) {
	var devices []string
	if n := len(cfg.GetCDIDevices()); n > maxCDIDevices {
		return nil, errdefs.InvalidField("cdi_devices", fmt.Sprintf("%d devices, more than %d", n, maxCDIDevices))
	}
	for i, d := range cfg.GetCDIDevices() {
		name := d.GetName()
		if len(name) > maxCDIName {
			return nil, errdefs.InvalidField(fmt.Sprintf("cdi_devices[%d].name", i), fmt.Sprintf("longer than %d bytes", maxCDIName))
		}
		if _, _, _, err := parser.ParseQualifiedName(name); err != nil {
			return nil, errdefs.InvalidField(fmt.Sprintf("cdi_devices[%d].name", i), err.Error())
		}
		devices = append(devices, name)
	}
	_, annotated, err := cdi.ParseAnnotations(cfg.GetAnnotations())
	if err != nil {
		return nil, errdefs.InvalidField("annotations", fmt.Sprintf("CDI devices: %v", err))
	}
	for _, name := range annotated {
		if !slices.Contains(devices, name) {
			devices = append(devices, name)
		}
	}
	if len(devices) > maxCDIDevices {
		return nil, errdefs.InvalidField("annotations", fmt.Sprintf("%d CDI devices, more than %d", len(devices), maxCDIDevices))
	}
	return devices, nil
}

// injectCDI resolves devices in the CDI spec directories, read again so
// that a spec a device plugin just wrote is found, and applies their edits
// (device nodes with their cgroup rules, mounts, environment, hooks) to s.
// A device that no spec names fails the container, naming it.
func (m *Manager) injectCDI(s *specs.Spec, devices []string) error {
	if len(devices) == 0 {
		return nil
	}
	if m.cdi == nil {
		return errdefs.InvalidField("cdi_devices", fmt.Sprintf("CDI devices %v: no CDI spec directory is configured ([cdi] spec_dirs)", devices))
	}
	if err := m.cdi.Refresh(); err != nil {
		// Specs that do not parse are left out; the others still
		// resolve.
		klog.InfoS("Some CDI specs could not be read", "err", err)
	}
	unresolved, err := m.cdi.InjectDevices(s, devices...)
	if len(unresolved) > 0 {
		return errdefs.InvalidField("cdi_devices", fmt.Sprintf("unresolvable CDI devices %v in %v", unresolved, m.cdi.GetSpecDirectories()))
	}
	if err != nil {
		return fmt.Errorf("inject CDI devices %v: %w", devices, err)
	}
	return nil
}

// InjectCDIDevices resolves the CDI devices an NRI plugin names and applies
// them to s, with the same bounds and checks as a container's own.
func (m *Manager) InjectCDIDevices(s *specs.Spec, devices []string) error {
	if len(devices) > maxCDIDevices {
		return errdefs.InvalidField("CDI_devices", fmt.Sprintf("%d devices, more than %d", len(devices), maxCDIDevices))
	}
	for i, name := range devices {
		if len(name) > maxCDIName {
			return errdefs.InvalidField(fmt.Sprintf("CDI_devices[%d]", i), fmt.Sprintf("longer than %d bytes", maxCDIName))
		}
		if _, _, _, err := parser.ParseQualifiedName(name); err != nil {
			return errdefs.InvalidField(fmt.Sprintf("CDI_devices[%d]", i), err.Error())
		}
	}
	return m.injectCDI(s, devices)
}

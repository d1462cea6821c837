// Package network owns pod networking: finding the CNI network configuration,
// and attaching and detaching pod network namespaces through libcni.
package network

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// confExtensions are the file types CNI config directories hold.
var confExtensions = []string{".conf", ".conflist", ".json"}

// ErrNoConfig means the conf dir holds no usable network configuration.
var ErrNoConfig = errors.New("no CNI network configuration found")

// Manager finds and uses the pod network configuration.
type Manager struct {
	confDir  string
	binDirs  []string
	cacheDir string
	observer Observer
	skipIdle bool
	exec     invoke.Exec // nil: libcni's own
}

// NewManager returns a manager reading configurations from confDir and plugin
// binaries from binDirs. cacheDir keeps libcni's record of each attachment,
// so a DEL after a daemon restart tears down exactly what ADD set up; it must
// survive daemon restarts ("" uses libcni's default, /var/lib/cni).
func NewManager(confDir string, binDirs []string, cacheDir string) *Manager {
	return &Manager{confDir: confDir, binDirs: binDirs, cacheDir: cacheDir}
}

// SetObserver makes the manager report the duration of every CNI ADD, DEL
// and CHECK to o. Call it before the manager is used.
func (m *Manager) SetObserver(o Observer) { m.observer = o }

// SkipIdlePlugins makes the manager leave out of each pod's chain the
// plugins that would do nothing for it (idle.go). Call it before the
// manager is used.
func (m *Manager) SkipIdlePlugins(on bool) { m.skipIdle = on }

// SetPluginProcess makes plugins run as p says (plugin_exec.go); the zero
// PluginProcess runs them as libcni does. Call it before the manager is
// used.
func (m *Manager) SetPluginProcess(p PluginProcess) {
	m.exec = nil
	if p != (PluginProcess{}) {
		m.exec = newPluginExec(p)
	}
}

// Status reports whether pods can be networked: a configuration loads and
// every plugin it names is installed. The error says what is missing.
func (m *Manager) Status() error {
	list, err := m.LoadConfig()
	if err != nil {
		return err
	}
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, m.binDirs); err != nil {
			return fmt.Errorf("network %q: plugin %q: %w", list.Name, p.Network.Type, err)
		}
	}
	return nil
}

// LoadConfig returns the first loadable network configuration in the conf
// dir, in file name order, as kubelet's other runtimes do.
func (m *Manager) LoadConfig() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(m.confDir, confExtensions)
	if err != nil {
		return nil, fmt.Errorf("read CNI conf dir %s: %w", m.confDir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoConfig, m.confDir)
	}
	var errs []error
	for _, f := range files { // ConfFiles returns them sorted by name
		list, err := loadFile(f)
		if err == nil {
			return list, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w in %s: %w", ErrNoConfig, m.confDir, errors.Join(errs...))
}

func loadFile(path string) (*libcni.NetworkConfigList, error) {
	if filepath.Ext(path) == ".conflist" {
		list, err := libcni.NetworkConfFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return list, nil
	}
	conf, err := libcni.ConfFromFile(path) //nolint:staticcheck // single-plugin files are still common
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	list, err := libcni.ConfListFromConf(conf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

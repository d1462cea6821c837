// Package config owns crisp's daemon configuration: the embedded defaults, the
// optional TOML file that overrides them, and the validation that rejects a
// configuration before the daemon starts.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/crisp-runtime/crisp/pkg/timerslack"
)

// DefaultPath is where the daemon looks for its configuration file.
const DefaultPath = "/etc/crisp/crisp.toml"

// defaultTOML is the commented default configuration. It is both the source of
// the built-in defaults and what `crisp config default` prints, so the two can
// never disagree.
//
//go:embed default.toml
var defaultTOML []byte

// Cgroup drivers understood by crisp.
const (
	CgroupDriverAuto     = "auto"
	CgroupDriverSystemd  = "systemd"
	CgroupDriverCgroupfs = "cgroupfs"
)

// Config is the daemon configuration.
type Config struct {
	// Root holds persistent data (images, container records).
	Root string `toml:"root" json:"root"`
	// State holds runtime state that does not survive a reboot.
	State   string  `toml:"state" json:"state"`
	GRPC    GRPC    `toml:"grpc" json:"grpc"`
	Cgroup  Cgroup  `toml:"cgroup" json:"cgroup"`
	CNI     CNI     `toml:"cni" json:"cni"`
	Image   Image   `toml:"image" json:"image"`
	Stream  Stream  `toml:"stream" json:"stream"`
	Metrics Metrics `toml:"metrics" json:"metrics"`
	CDI     CDI     `toml:"cdi" json:"cdi"`
	NRI     NRI     `toml:"nri" json:"nri"`
}

// NRI configures the Node Resource Interface: plugins that see and adjust
// pods and containers.
type NRI struct {
	// Enable turns NRI on; off, no socket is served and no plugin runs.
	Enable bool `toml:"enable" json:"enable"`
	// SocketPath is where plugins started outside crisp connect.
	SocketPath string `toml:"socket_path" json:"socket_path"`
	// PluginPath holds pre-installed plugins, started by crisp.
	PluginPath string `toml:"plugin_path" json:"plugin_path"`
	// PluginConfigPath holds the configuration of pre-installed plugins.
	PluginConfigPath string `toml:"plugin_config_path" json:"plugin_config_path"`
	// RegistrationTimeout is how long a plugin has to register.
	RegistrationTimeout Duration `toml:"registration_timeout" json:"registration_timeout"`
	// RequestTimeout is how long a plugin has to answer an event.
	RequestTimeout Duration `toml:"request_timeout" json:"request_timeout"`
}

func (n *NRI) validate() []error {
	var errs []error
	for key, v := range map[string]string{"nri.socket_path": n.SocketPath, "nri.plugin_path": n.PluginPath, "nri.plugin_config_path": n.PluginConfigPath} {
		if !filepath.IsAbs(v) {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute path", key, v))
		}
	}
	// The kernel's limit on a unix socket's path, with its NUL.
	if len(n.SocketPath) > 107 {
		errs = append(errs, fmt.Errorf("nri.socket_path: %q is longer than a unix socket path may be (107 bytes)", n.SocketPath))
	}
	if n.RegistrationTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("nri.registration_timeout: %s must be positive", n.RegistrationTimeout))
	}
	if n.RequestTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("nri.request_timeout: %s must be positive", n.RequestTimeout))
	}
	return errs
}

// CDI configures Container Device Interface devices.
type CDI struct {
	// SpecDirs are the directories CDI specs are read from, in order of
	// increasing priority; empty refuses every CDI device.
	SpecDirs []string `toml:"spec_dirs" json:"spec_dirs"`
}

// GRPC configures the CRI endpoint.
type GRPC struct {
	Address         string   `toml:"address" json:"address"`
	SocketGroup     string   `toml:"socket_group" json:"socket_group"`
	ShutdownTimeout Duration `toml:"shutdown_timeout" json:"shutdown_timeout"`
}

// Cgroup configures the cgroup driver.
type Cgroup struct {
	Driver            string `toml:"driver" json:"driver"`
	Mount             string `toml:"mount" json:"mount"`
	MissingController string `toml:"missing_controller" json:"missing_controller"`
	DefaultPidsLimit  int64  `toml:"default_pids_limit" json:"default_pids_limit"`
}

// Actions for a limit whose cgroup controller is missing.
const (
	MissingControllerError = "error"
	MissingControllerWarn  = "warn"
)

// Image configures image pulls and storage.
type Image struct {
	RegistriesConf    string   `toml:"registries_conf" json:"registries_conf"`
	RegistriesConfDir string   `toml:"registries_conf_dir" json:"registries_conf_dir"`
	SignaturePolicy   string   `toml:"signature_policy" json:"signature_policy"`
	StorageDriver     string   `toml:"storage_driver" json:"storage_driver"`
	PullTimeout       Duration `toml:"pull_timeout" json:"pull_timeout"`
	// PullProgressInterval is how often a running pull logs its progress.
	PullProgressInterval Duration `toml:"pull_progress_interval" json:"pull_progress_interval"`
	// PinnedImages are never garbage collected by kubelet; an entry ending
	// in "*" matches every reference with that prefix.
	PinnedImages []string `toml:"pinned_images" json:"pinned_images"`
}

// CNI configures pod networking.
type CNI struct {
	ConfDir string   `toml:"conf_dir" json:"conf_dir"`
	BinDirs []string `toml:"bin_dirs" json:"bin_dirs"`
	// SkipIdlePlugins leaves out of a pod's chain the plugins that would
	// pass the previous result on unchanged for it (portmap without host
	// ports, bandwidth without a rate).
	SkipIdlePlugins bool `toml:"skip_idle_plugins" json:"skip_idle_plugins"`
	// PluginGOMAXPROCS is the GOMAXPROCS plugins run with unless crisp's
	// own environment sets one; 0 leaves their environment as crisp's.
	PluginGOMAXPROCS int `toml:"plugin_gomaxprocs" json:"plugin_gomaxprocs"`
	// PluginTimerSlack is the timer slack plugins run with (up to
	// timerslack.Max); 0 leaves them crisp's.
	PluginTimerSlack Duration `toml:"plugin_timer_slack" json:"plugin_timer_slack"`
}

// maxPluginGOMAXPROCS bounds cni.plugin_gomaxprocs: more than a plugin
// could use, few enough that a typo is caught here.
const maxPluginGOMAXPROCS = 1024

// Stream configures the HTTP server that carries exec and port-forward
// sessions; kubelet (or crictl) connects to the URLs the CRI calls return.
type Stream struct {
	// Address is the IP address to listen on.
	Address string `toml:"address" json:"address"`
	// Port is the TCP port to listen on; "0" picks a free one.
	Port string `toml:"port" json:"port"`
	// IdleTimeout closes a session that has carried nothing for this long.
	IdleTimeout Duration `toml:"idle_timeout" json:"idle_timeout"`
	// StreamCreationTimeout is how long a client has to open a session's
	// streams once it has connected.
	StreamCreationTimeout Duration `toml:"stream_creation_timeout" json:"stream_creation_timeout"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Address is the host:port the endpoint listens on; empty turns it
	// off.
	Address string `toml:"address" json:"address"`
}

func (m *Metrics) validate() []error {
	if m.Address == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(m.Address)
	if err != nil {
		return []error{fmt.Errorf("metrics.address: %q is not host:port: %w", m.Address, err)}
	}
	var errs []error
	if _, err := netip.ParseAddr(host); err != nil {
		errs = append(errs, fmt.Errorf("metrics.address: host %q is not an IP address", host))
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("metrics.address: %q is not a port number (0-65535)", port))
	}
	return errs
}

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultTOML returns the commented default configuration file.
func DefaultTOML() []byte { return bytes.Clone(defaultTOML) }

// Default returns the built-in configuration.
func Default() *Config {
	c, err := decode(defaultTOML, nil)
	if err != nil {
		// The embedded file is part of the binary and covered by tests.
		panic(fmt.Sprintf("embedded default configuration is invalid: %v", err))
	}
	return c
}

// Load returns the defaults overridden by the file at path. A missing file is
// not an error when missingOK is set (the daemon runs on its defaults).
func Load(path string, missingOK bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && missingOK {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := decode(data, Default())
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// decode parses data over base (or a zero Config) and validates the result.
func decode(data []byte, base *Config) (*Config, error) {
	c := base
	if c == nil {
		c = &Config{}
	}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, describe(err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// describe turns a go-toml error into one that names the key and line.
func describe(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var msgs []string
		for i := range strict.Errors {
			e := &strict.Errors[i]
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q", row, strings.Join(e.Key(), ".")))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		if key := de.Key(); len(key) > 0 {
			return fmt.Errorf("line %d column %d: key %q: %s", row, col, strings.Join(key, "."), de.Error())
		}
		return fmt.Errorf("line %d column %d: %s", row, col, de.Error())
	}
	return err
}

// Validate checks every value and names the offending key.
func (c *Config) Validate() error {
	var errs []error
	abs := func(key, v string) {
		if !filepath.IsAbs(v) {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute path", key, v))
		}
	}
	abs("root", c.Root)
	abs("state", c.State)
	abs("cni.conf_dir", c.CNI.ConfDir)
	for _, d := range c.CNI.BinDirs {
		abs("cni.bin_dirs", d)
	}
	for _, d := range c.CDI.SpecDirs {
		abs("cdi.spec_dirs", d)
	}
	if len(c.CNI.BinDirs) == 0 {
		errs = append(errs, errors.New("cni.bin_dirs: at least one directory is required"))
	}
	if n := c.CNI.PluginGOMAXPROCS; n < 0 || n > maxPluginGOMAXPROCS {
		errs = append(errs, fmt.Errorf("cni.plugin_gomaxprocs: %d is not between 0 and %d", n, maxPluginGOMAXPROCS))
	}
	if d := c.CNI.PluginTimerSlack.Duration; d < 0 || d > timerslack.Max {
		errs = append(errs, fmt.Errorf("cni.plugin_timer_slack: %s is not between 0 and %s", d, timerslack.Max))
	}
	abs("cgroup.mount", c.Cgroup.Mount)
	abs("image.registries_conf", c.Image.RegistriesConf)
	abs("image.registries_conf_dir", c.Image.RegistriesConfDir)
	abs("image.signature_policy", c.Image.SignaturePolicy)
	switch c.Cgroup.MissingController {
	case MissingControllerError, MissingControllerWarn:
	default:
		errs = append(errs, fmt.Errorf("cgroup.missing_controller: %q is not one of error, warn", c.Cgroup.MissingController))
	}
	if c.Cgroup.DefaultPidsLimit < 0 {
		errs = append(errs, fmt.Errorf("cgroup.default_pids_limit: %d must not be negative", c.Cgroup.DefaultPidsLimit))
	}
	switch c.Image.StorageDriver {
	case "overlay", "vfs":
	default:
		errs = append(errs, fmt.Errorf("image.storage_driver: %q is not one of overlay, vfs", c.Image.StorageDriver))
	}
	if c.Image.PullTimeout.Duration < 0 {
		errs = append(errs, fmt.Errorf("image.pull_timeout: %s must not be negative", c.Image.PullTimeout))
	}
	if c.Image.PullProgressInterval.Duration <= 0 {
		errs = append(errs, fmt.Errorf("image.pull_progress_interval: %s must be positive", c.Image.PullProgressInterval))
	}
	for _, p := range c.Image.PinnedImages {
		if p == "" || p == "*" {
			errs = append(errs, fmt.Errorf("image.pinned_images: %q pins nothing or everything", p))
		}
	}
	if _, err := c.SocketPath(); err != nil {
		errs = append(errs, fmt.Errorf("grpc.address: %w", err))
	}
	if c.GRPC.ShutdownTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("grpc.shutdown_timeout: %s must be positive", c.GRPC.ShutdownTimeout))
	}
	switch c.Cgroup.Driver {
	case CgroupDriverAuto, CgroupDriverSystemd, CgroupDriverCgroupfs:
	default:
		errs = append(errs, fmt.Errorf("cgroup.driver: %q is not one of auto, systemd, cgroupfs", c.Cgroup.Driver))
	}
	errs = append(errs, c.Stream.validate()...)
	errs = append(errs, c.Metrics.validate()...)
	errs = append(errs, c.NRI.validate()...)
	return errors.Join(errs...)
}

func (s *Stream) validate() []error {
	var errs []error
	if _, err := netip.ParseAddr(s.Address); err != nil {
		errs = append(errs, fmt.Errorf("stream.address: %q is not an IP address", s.Address))
	}
	if _, err := strconv.ParseUint(s.Port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("stream.port: %q is not a port number (0-65535)", s.Port))
	}
	if s.IdleTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("stream.idle_timeout: %s must be positive", s.IdleTimeout))
	}
	if s.StreamCreationTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("stream.stream_creation_timeout: %s must be positive", s.StreamCreationTimeout))
	}
	return errs
}

// ListenAddress is the host:port the streaming server listens on.
func (s *Stream) ListenAddress() string { return net.JoinHostPort(s.Address, s.Port) }

// SocketPath returns the filesystem path of the unix socket in grpc.address.
func (c *Config) SocketPath() (string, error) {
	p, ok := strings.CutPrefix(c.GRPC.Address, "unix://")
	if !ok {
		return "", fmt.Errorf("%q: only unix:// endpoints are supported", c.GRPC.Address)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q: socket path must be absolute", c.GRPC.Address)
	}
	return p, nil
}

// LockPath is the lock file that keeps a second daemon off the same state.
func (c *Config) LockPath() string { return filepath.Join(c.State, "crisp.lock") }

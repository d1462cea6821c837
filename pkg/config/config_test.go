package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if c.Root != "/var/lib/crisp" || c.State != "/run/crisp" {
		t.Errorf("root/state = %q/%q, want /var/lib/crisp and /run/crisp", c.Root, c.State)
	}
	if c.GRPC.Address != "unix:///run/crisp/crisp.sock" {
		t.Errorf("grpc.address = %q", c.GRPC.Address)
	}
	if c.GRPC.ShutdownTimeout.Duration != 10*time.Second {
		t.Errorf("grpc.shutdown_timeout = %s", c.GRPC.ShutdownTimeout)
	}
	if c.Metrics.Address != "" {
		t.Errorf("metrics.address = %q, want the endpoint off", c.Metrics.Address)
	}
	if got := c.Stream.ListenAddress(); got != "127.0.0.1:0" {
		t.Errorf("stream listen address = %q, want 127.0.0.1:0", got)
	}
	if c.CNI.PluginGOMAXPROCS != 1 {
		t.Errorf("cni.plugin_gomaxprocs = %d, want 1", c.CNI.PluginGOMAXPROCS)
	}
	if c.CNI.PluginTimerSlack.Duration != 4*time.Millisecond {
		t.Errorf("cni.plugin_timer_slack = %s, want 4ms", c.CNI.PluginTimerSlack)
	}
	if c.Stream.IdleTimeout.Duration != 4*time.Hour || c.Stream.StreamCreationTimeout.Duration != 30*time.Second {
		t.Errorf("stream timeouts = %s, %s; want 4h, 30s", c.Stream.IdleTimeout, c.Stream.StreamCreationTimeout)
	}
}

func TestStreamListenAddress(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"[stream]\naddress = \"0.0.0.0\"\nport = \"10010\"\n", "0.0.0.0:10010"},
		{"[stream]\naddress = \"::1\"\n", "[::1]:0"},
	}
	for _, tt := range tests {
		c, err := Load(writeConfig(t, tt.file), false)
		if err != nil {
			t.Fatalf("%q: %v", tt.file, err)
		}
		if got := c.Stream.ListenAddress(); got != tt.want {
			t.Errorf("%q: listen address %q, want %q", tt.file, got, tt.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	if _, err := Load(path, true); err != nil {
		t.Fatalf("missing optional file: %v", err)
	}
	if _, err := Load(path, false); err == nil {
		t.Fatal("missing required file loaded without error")
	}
}

func TestLoadOverridesDefaults(t *testing.T) {
	path := writeConfig(t, "root = \"/srv/crisp\"\n[cgroup]\ndriver = \"systemd\"\n")
	c, err := Load(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != "/srv/crisp" || c.Cgroup.Driver != "systemd" {
		t.Errorf("overrides not applied: root=%q driver=%q", c.Root, c.Cgroup.Driver)
	}
	if c.State != "/run/crisp" || c.CNI.ConfDir != "/etc/cni/net.d" {
		t.Errorf("defaults lost: state=%q conf_dir=%q", c.State, c.CNI.ConfDir)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"unknown top-level key", "root = \"/x\"\nbogus = 1\n", []string{"line 2", `"bogus"`}},
		{"unknown nested key", "[grpc]\naddress = \"unix:///a.sock\"\nsocket_mode = \"0600\"\n", []string{"line 3", `"grpc.socket_mode"`}},
		{"wrong type", "[cgroup]\ndriver = 3\n", []string{"line 2", "cgroup.driver"}},
		{"bad driver", "[cgroup]\ndriver = \"bogus\"\n", []string{"cgroup.driver", `"bogus"`}},
		{"relative root", "root = \"var/lib\"\n", []string{"root", "absolute"}},
		{"tcp address", "[grpc]\naddress = \"tcp://127.0.0.1:1\"\n", []string{"grpc.address", "unix://"}},
		{"bad duration", "[grpc]\nshutdown_timeout = \"soon\"\n", []string{"grpc.shutdown_timeout"}},
		{"bad missing policy", "[cgroup]\nmissing_controller = \"ignore\"\n", []string{"cgroup.missing_controller"}},
		{"bad storage driver", "[image]\nstorage_driver = \"btrfs\"\n", []string{"image.storage_driver"}},
		{"stream host name", "[stream]\naddress = \"localhost\"\n", []string{"stream.address", "IP address"}},
		{"stream port too big", "[stream]\nport = \"65536\"\n", []string{"stream.port", `"65536"`}},
		{"stream port not a number", "[stream]\nport = \"http\"\n", []string{"stream.port"}},
		{"stream idle timeout", "[stream]\nidle_timeout = \"0s\"\n", []string{"stream.idle_timeout", "positive"}},
		{"stream creation timeout", "[stream]\nstream_creation_timeout = \"-1s\"\n", []string{"stream.stream_creation_timeout"}},
		{"metrics without port", "[metrics]\naddress = \"127.0.0.1\"\n", []string{"metrics.address", "host:port"}},
		{"metrics host name", "[metrics]\naddress = \"localhost:9090\"\n", []string{"metrics.address", "IP address"}},
		{"metrics port too big", "[metrics]\naddress = \"127.0.0.1:70000\"\n", []string{"metrics.address", `"70000"`}},
		{"nri relative socket", "[nri]\nsocket_path = \"nri.sock\"\n", []string{"nri.socket_path", "absolute"}},
		{"nri socket too long", "[nri]\nsocket_path = \"/" + strings.Repeat("s", 120) + "\"\n", []string{"nri.socket_path", "107"}},
		{"nri relative plugins", "[nri]\nplugin_path = \"plugins\"\n", []string{"nri.plugin_path"}},
		{"nri request timeout", "[nri]\nrequest_timeout = \"0s\"\n", []string{"nri.request_timeout", "positive"}},
		{"nri registration timeout", "[nri]\nregistration_timeout = \"-1s\"\n", []string{"nri.registration_timeout"}},
		{"negative plugin GOMAXPROCS", "[cni]\nplugin_gomaxprocs = -1\n", []string{"cni.plugin_gomaxprocs", "-1"}},
		{"huge plugin GOMAXPROCS", "[cni]\nplugin_gomaxprocs = 100000\n", []string{"cni.plugin_gomaxprocs", "100000"}},
		{"negative plugin timer slack", "[cni]\nplugin_timer_slack = \"-1ms\"\n", []string{"cni.plugin_timer_slack", "-1ms"}},
		{"huge plugin timer slack", "[cni]\nplugin_timer_slack = \"1s\"\n", []string{"cni.plugin_timer_slack", "1s"}},
		{"syntax error", "root = \n", []string{"line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.file), false)
			if err == nil {
				t.Fatal("invalid config loaded without error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSocketPath(t *testing.T) {
	c := Default()
	p, err := c.SocketPath()
	if err != nil || p != "/run/crisp/crisp.sock" {
		t.Fatalf("SocketPath = %q, %v", p, err)
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crisp.toml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// FuzzDecode feeds configuration files to the daemon's parser. A file the
// daemon accepts must hold a configuration that validates, whose paths are
// absolute, and that written back as TOML reads as the same configuration.
func FuzzDecode(f *testing.F) {
	f.Add(DefaultTOML())
	f.Add([]byte(""))
	f.Add([]byte("root = \"/srv/crisp\"\n[cgroup]\ndriver = \"systemd\"\ndefault_pids_limit = 4096\n"))
	f.Add([]byte("[cni]\nbin_dirs = [\"/opt/cni/bin\", \"/usr/lib/cni\"]\n"))
	f.Add([]byte("[image]\npinned_images = [\"pause:3.10\", \"registry.k8s.io/*\"]\npull_timeout = \"1m30s\"\n"))
	f.Add([]byte("[stream]\naddress = \"::1\"\nport = \"10010\"\nidle_timeout = \"1h\"\n"))
	f.Add([]byte("[grpc]\naddress = \"unix:///run/x.sock\"\nshutdown_timeout = \"1ns\"\n"))
	f.Add([]byte("root = \"relative\"\n"))
	f.Add([]byte("[grpc]\naddress = \"tcp://127.0.0.1:1\"\n"))
	f.Add([]byte("unknown = 1\n"))
	f.Add([]byte("[image]\npull_timeout = \"-1s\"\n"))
	f.Add([]byte("[cni]\nplugin_timer_slack = \"100ms\"\nplugin_gomaxprocs = 0\n"))
	f.Add([]byte("[cni]\nplugin_timer_slack = \"100000001ns\"\n"))
	f.Add([]byte("[cni]\nplugin_timer_slack = \"-4ms\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decode(data, Default())
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted configuration does not validate: %v", err)
		}
		paths := map[string]string{
			"root": c.Root, "state": c.State, "cni.conf_dir": c.CNI.ConfDir, "cgroup.mount": c.Cgroup.Mount,
			"image.registries_conf": c.Image.RegistriesConf, "image.registries_conf_dir": c.Image.RegistriesConfDir,
			"image.signature_policy": c.Image.SignaturePolicy, "lock": c.LockPath(),
			"nri.socket_path": c.NRI.SocketPath, "nri.plugin_path": c.NRI.PluginPath, "nri.plugin_config_path": c.NRI.PluginConfigPath,
		}
		for i, d := range c.CNI.BinDirs {
			paths[fmt.Sprintf("cni.bin_dirs[%d]", i)] = d
		}
		for i, d := range c.CDI.SpecDirs {
			paths[fmt.Sprintf("cdi.spec_dirs[%d]", i)] = d
		}
		sock, err := c.SocketPath()
		if err != nil {
			t.Fatalf("accepted configuration has no socket path: %v", err)
		}
		paths["grpc.address"] = sock
		for key, p := range paths {
			if !filepath.IsAbs(p) {
				t.Errorf("%s = %q is accepted but not absolute", key, p)
			}
		}
		if len(c.CNI.BinDirs) == 0 {
			t.Error("accepted configuration has no cni.bin_dirs")
		}
		switch c.EffectiveCgroupDriver() {
		case CgroupDriverSystemd, CgroupDriverCgroupfs:
		default:
			t.Errorf("cgroup.driver %q resolves to %q", c.Cgroup.Driver, c.EffectiveCgroupDriver())
		}

		out, err := toml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal accepted configuration: %v", err)
		}
		again, err := decode(out, nil)
		if err != nil {
			t.Fatalf("configuration written back is refused: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("configuration changed across a round trip:\nfirst  %+v\nsecond %+v\nTOML:\n%s", c, again, out)
		}
	})
}

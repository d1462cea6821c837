package sandbox

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
)

func TestFileWritersRefuseInjectedLines(t *testing.T) {
	ip := []netip.Addr{netip.MustParseAddr("10.0.0.2")}
	tests := []struct {
		name  string
		field string
		write func(dir string) error
	}{
		{"hostname in hosts", "hostname", func(dir string) error {
			return writeHosts(dir, "web\n6.6.6.6\tbank.example", false, ip)
		}},
		{"hostname file", "hostname", func(dir string) error { return writeHostname(dir, "web\nx") }},
		{"hostname with a space", "hostname", func(dir string) error { return writeHostname(dir, "web x") }},
		{"server", "dns_config.servers[0]", func(dir string) error {
			return writeResolvConf(dir, &network.DNS{Servers: []string{"10.0.0.10\nnameserver 6.6.6.6"}})
		}},
		{"search", "dns_config.searches[1]", func(dir string) error {
			return writeResolvConf(dir, &network.DNS{Searches: []string{"ok.example", "a\nnameserver 6.6.6.6"}})
		}},
		{"option", "dns_config.options[0]", func(dir string) error {
			return writeResolvConf(dir, &network.DNS{Options: []string{"ndots:5\rnameserver"}})
		}},
		{"empty option", "dns_config.options[0]", func(dir string) error {
			return writeResolvConf(dir, &network.DNS{Options: []string{""}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := tt.write(dir)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("write: %v, want invalid argument naming %s", err, tt.field)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("%d files written", len(entries))
			}
		})
	}
}

func TestFileWritersWriteWhatWasAsked(t *testing.T) {
	dir := t.TempDir()
	if err := writeResolvConf(dir, &network.DNS{Servers: []string{"10.0.0.10", "fd00::10"}, Searches: []string{"a.example"}, Options: []string{"ndots:5", "edns0"}}); err != nil {
		t.Fatal(err)
	}
	if err := writeHosts(dir, "web", false, []netip.Addr{netip.MustParseAddr("10.0.0.2")}); err != nil {
		t.Fatal(err)
	}
	resolv, _ := os.ReadFile(filepath.Join(dir, ResolvConfFile))
	if want := "search a.example\nnameserver 10.0.0.10\nnameserver fd00::10\noptions ndots:5 edns0\n"; string(resolv) != want {
		t.Errorf("resolv.conf = %q, want %q", resolv, want)
	}
	hosts, _ := os.ReadFile(filepath.Join(dir, HostsFile))
	if !strings.HasSuffix(string(hosts), "\n10.0.0.2\tweb\n") {
		t.Errorf("hosts = %q", hosts)
	}
}

// A hostname the CRI edge failed to refuse stops the pod before its UTS
// namespace is named and leaves nothing behind.
func TestInjectedHostnameLeavesNothing(t *testing.T) {
	e := newEnv(t)
	spec := podSpec("injected")
	spec.Hostname = "injected\n6.6.6.6\tbank.example"
	_, err := e.m.Run(context.Background(), spec)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "hostname") {
		t.Fatalf("Run: %v, want invalid argument naming hostname", err)
	}
	assertNothingLeft(t, e)
}

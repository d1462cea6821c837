package sandbox

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
)

// Files a pod provides to its containers, inside Sandbox.Dir.
const (
	ResolvConfFile = "resolv.conf"
	HostsFile      = "hosts"
	HostnameFile   = "hostname"
)

// hostResolvConf is copied for pods that bring no DNS config of their own.
const hostResolvConf = "/etc/resolv.conf"

// writeResolvConf writes the pod's resolv.conf: from its DNS config when it
// has one, else the host's.
func writeResolvConf(dir string, dns *network.DNS) error {
	var data []byte
	if dns == nil || (len(dns.Servers) == 0 && len(dns.Searches) == 0 && len(dns.Options) == 0) {
		host, err := os.ReadFile(hostResolvConf)
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("read host resolv.conf: %w", err)
		}
		data = host
	} else {
		var err error
		if data, err = resolvConf(dns); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dir, ResolvConfFile), data)
}

// resolvConf renders dns. Each entry must be one word: whitespace would
// split it and a newline would add a line of the caller's choosing.
func resolvConf(dns *network.DNS) ([]byte, error) {
	for field, list := range map[string][]string{"dns_config.servers": dns.Servers, "dns_config.searches": dns.Searches, "dns_config.options": dns.Options} {
		for i, s := range list {
			if err := checkWord(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
				return nil, err
			}
		}
	}
	var b bytes.Buffer
	if len(dns.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.Searches, " "))
	}
	for _, s := range dns.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.Options, " "))
	}
	return b.Bytes(), nil
}

// checkWord refuses an empty entry of a generated file and one with
// whitespace or control characters.
func checkWord(field, s string) error {
	if s == "" {
		return errdefs.InvalidField(field, "must not be empty")
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return errdefs.InvalidField(field, fmt.Sprintf("%q contains whitespace or a control character", s))
	}
	return nil
}

// writeHosts writes the pod's hosts file. Pods on the host network get the
// host's; others get localhost entries and their own name on each address.
func writeHosts(dir, hostname string, hostNetwork bool, ips []netip.Addr) error {
	if hostNetwork {
		host, err := os.ReadFile("/etc/hosts")
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("read host hosts file: %w", err)
		}
		return writeFile(filepath.Join(dir, HostsFile), host)
	}
	if hostname != "" {
		if err := checkWord("hostname", hostname); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	for _, ip := range ips {
		if hostname != "" {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	return writeFile(filepath.Join(dir, HostsFile), b.Bytes())
}

// writeHostname writes the pod's hostname file; an empty name writes an
// empty line.
func writeHostname(dir, hostname string) error {
	if hostname != "" {
		if err := checkWord("hostname", hostname); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dir, HostnameFile), []byte(hostname+"\n"))
}

// writeFile replaces path atomically, so a container never sees it half
// written.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

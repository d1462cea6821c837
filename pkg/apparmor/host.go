package apparmor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Host is the AppArmor of the machine crisp runs on, as its sysfs and
// securityfs show it.
type Host struct {
	// Sys is where sysfs is mounted, "/sys" on a host.
	Sys string
	// Parser is the apparmor_parser command that loads profiles.
	Parser string
}

// NewHost returns the host's AppArmor at its usual places.
func NewHost() *Host {
	return &Host{Sys: "/sys", Parser: "apparmor_parser"}
}

// maxProfilesList bounds the read of the kernel's list of loaded
// profiles: a host with snaps lists some thousands, about 100 bytes each.
const maxProfilesList = 8 << 20

// Enabled reports whether the kernel enforces AppArmor: the module is on
// and its securityfs is mounted, so profiles can be listed and loaded.
func (h *Host) Enabled() bool {
	data, err := os.ReadFile(h.Sys + "/module/apparmor/parameters/enabled")
	if err != nil || !bytes.HasPrefix(data, []byte("Y")) {
		return false
	}
	_, err = os.Stat(h.Sys + "/kernel/security/apparmor/profiles")
	return err == nil
}

// Loaded reports whether a profile called name is loaded in the kernel.
func (h *Host) Loaded(name string) (bool, error) {
	f, err := os.Open(h.Sys + "/kernel/security/apparmor/profiles")
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("AppArmor is not enabled on this host")
	}
	if err != nil {
		return false, fmt.Errorf("list AppArmor profiles: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProfilesList+1))
	if err != nil {
		return false, fmt.Errorf("list AppArmor profiles: %w", err)
	}
	if len(data) > maxProfilesList {
		return false, fmt.Errorf("list AppArmor profiles: longer than %d bytes", maxProfilesList)
	}
	_, ok := parseProfiles(data)[name]
	return ok, nil
}

// parseProfiles reads the kernel's list of loaded profiles, one
// "<name> (<mode>)" a line, into modes by name. A name may hold spaces
// and parentheses; the mode is the last parenthesised word.
func parseProfiles(data []byte) map[string]string {
	profiles := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		i := strings.LastIndex(line, " (")
		if i <= 0 || !strings.HasSuffix(line, ")") {
			continue
		}
		profiles[line[:i]] = line[i+2 : len(line)-1]
	}
	return profiles
}

// CheckName checks a profile name a request gives: what the kernel could
// hold and a single write to a process's attr/exec file can carry.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("empty AppArmor profile name")
	}
	if len(name) > 1024 {
		return fmt.Errorf("AppArmor profile name longer than 1024 bytes")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("AppArmor profile name %q holds a control character", name)
		}
	}
	return nil
}

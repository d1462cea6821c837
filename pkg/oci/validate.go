package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// loadSpec reads and checks <bundle>/config.json.
func loadSpec(bundle string) (*specs.Spec, json.RawMessage, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("bundle %s: no config.json: %w", bundle, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	spec := &specs.Spec{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(spec); err != nil {
		return nil, nil, decodeError(path, data, err)
	}
	if err := validateSpec(spec); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, nil, decodeError(path, data, err)
	}
	return spec, compact.Bytes(), nil
}

// decodeError names the field or position of a JSON error.
func decodeError(path string, data []byte, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("%s: %w", path, errdefs.InvalidField(typeErr.Field, fmt.Sprintf("cannot be a JSON %s (want %s)", typeErr.Value, typeErr.Type)))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		line := 1 + bytes.Count(data[:min(int(syntaxErr.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("%s: line %d: %v: %w", path, line, syntaxErr, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %v: %w", path, err, errdefs.ErrInvalidArgument)
}

// validateSpec checks what crisp needs of a spec before touching the system.
func validateSpec(spec *specs.Spec) error {
	if spec.Version == "" {
		return errdefs.InvalidField("ociVersion", "must be set")
	}
	if !strings.HasPrefix(spec.Version, "1.") {
		return errdefs.InvalidField("ociVersion", fmt.Sprintf("%q is not a 1.x version", spec.Version))
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return errdefs.InvalidField("root.path", "must be set")
	}
	if spec.Linux == nil {
		return errdefs.InvalidField("linux", "must be set")
	}
	if spec.Process == nil {
		return errdefs.InvalidField("process", "must be set")
	}
	if err := validateProcess("process", spec.Process); err != nil {
		return err
	}
	plan, err := planNamespaces(spec.Linux.Namespaces)
	if err != nil {
		return err
	}
	if plan.isNew(specs.UserNamespace) {
		if len(spec.Linux.UIDMappings) == 0 {
			return errdefs.InvalidField("linux.uidMappings", "a new user namespace needs uid mappings")
		}
		if len(spec.Linux.GIDMappings) == 0 {
			return errdefs.InvalidField("linux.gidMappings", "a new user namespace needs gid mappings")
		}
	} else if !plan.has(specs.UserNamespace) && len(spec.Linux.UIDMappings)+len(spec.Linux.GIDMappings) > 0 {
		// With a joined user namespace they describe it, as with runc.
		return errdefs.InvalidField("linux.uidMappings", "mappings need a user namespace")
	}
	if err := checkIDMaps(spec, plan); err != nil {
		return err
	}
	// A joined uts namespace is the container's to name, as with runc; the
	// runtime's own, inherited, is not.
	if spec.Hostname != "" && !plan.has(specs.UTSNamespace) {
		return errdefs.InvalidField("hostname", "needs a uts namespace, new or joined")
	}
	if spec.Domainname != "" && !plan.has(specs.UTSNamespace) {
		return errdefs.InvalidField("domainname", "needs a uts namespace, new or joined")
	}
	for i, m := range spec.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return errdefs.InvalidField(fmt.Sprintf("mounts[%d].destination", i), fmt.Sprintf("%q is not an absolute path", m.Destination))
		}
		if _, _, err := parseMountOptions(m.Options); err != nil {
			return fmt.Errorf("mounts[%d].options: %w", i, err)
		}
	}
	if err := checkSysctls(spec.Linux.Sysctl, plan); err != nil {
		return err
	}
	for i, d := range spec.Linux.Devices {
		if err := checkDevice(fmt.Sprintf("linux.devices[%d]", i), d); err != nil {
			return err
		}
	}
	if err := checkHooks(spec.Hooks); err != nil {
		return err
	}
	return checkUnsupported(spec)
}

// checkUnsupported refuses settings crisp cannot honour, rather than
// running a container that silently lacks them.
func checkUnsupported(spec *specs.Spec) error {
	l := spec.Linux
	for field, set := range map[string]bool{
		"linux.personality":          l.Personality != nil,
		"linux.timeOffsets":          len(l.TimeOffsets) > 0,
		"linux.intelRdt":             l.IntelRdt != nil,
		"linux.memoryPolicy":         l.MemoryPolicy != nil,
		"linux.netDevices":           len(l.NetDevices) > 0,
		"linux.mountLabel":           l.MountLabel != "",
		"linux.seccomp.listenerPath": l.Seccomp != nil && l.Seccomp.ListenerPath != "",
		"process.scheduler":          spec.Process.Scheduler != nil,
		"process.ioPriority":         spec.Process.IOPriority != nil,
		"process.selinuxLabel":       spec.Process.SelinuxLabel != "",
	} {
		if set {
			return errdefs.InvalidField(field, "is not supported by crisp")
		}
	}
	return nil
}

// validateProcess checks a process of a spec or of an exec request.
func validateProcess(field string, p *specs.Process) error {
	if len(p.Args) == 0 && p.CommandLine == "" {
		return errdefs.InvalidField(field+".args", "must not be empty")
	}
	// The init executes the process after it reported ready: what it would
	// refuse then is refused here, with the field named.
	for name, list := range map[string][]string{"args": p.Args, "env": p.Env} {
		for i, s := range list {
			if strings.IndexByte(s, 0) >= 0 {
				return errdefs.InvalidField(fmt.Sprintf("%s.%s[%d]", field, name, i), "contains a NUL byte")
			}
		}
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return errdefs.InvalidField(field+".cwd", fmt.Sprintf("%q is not an absolute path", p.Cwd))
	}
	if p.Capabilities != nil {
		for name, set := range map[string][]string{
			"bounding": p.Capabilities.Bounding, "effective": p.Capabilities.Effective, "inheritable": p.Capabilities.Inheritable,
			"permitted": p.Capabilities.Permitted, "ambient": p.Capabilities.Ambient,
		} {
			if _, err := parseCaps(set); err != nil {
				return errdefs.InvalidField(field+".capabilities."+name, err.Error())
			}
		}
	}
	for i, rl := range p.Rlimits {
		if _, ok := rlimitTypes[rl.Type]; !ok {
			return errdefs.InvalidField(fmt.Sprintf("%s.rlimits[%d].type", field, i), fmt.Sprintf("unknown rlimit %q", rl.Type))
		}
		if rl.Soft > rl.Hard {
			return errdefs.InvalidField(fmt.Sprintf("%s.rlimits[%d].soft", field, i), "exceeds hard")
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return errdefs.InvalidField(field+".oomScoreAdj", fmt.Sprintf("%d is outside [-1000, 1000]", *p.OOMScoreAdj))
	}
	if p.ApparmorProfile != "" {
		// A profile that cannot be applied fails the container rather
		// than leave it unconfined.
		if err := apparmor.CheckName(p.ApparmorProfile); err != nil {
			return errdefs.InvalidField(field+".apparmorProfile", err.Error())
		}
		host := apparmor.NewHost()
		if !host.Enabled() {
			return errdefs.InvalidField(field+".apparmorProfile", fmt.Sprintf("profile %q: AppArmor is not enabled on this host", p.ApparmorProfile))
		}
		// The kernel takes a profile it does not have, and fails only
		// the execve that follows.
		loaded, err := host.Loaded(p.ApparmorProfile)
		if err != nil {
			return fmt.Errorf("%s.apparmorProfile: %w", field, err)
		}
		if !loaded {
			return errdefs.InvalidField(field+".apparmorProfile", fmt.Sprintf("profile %q is not loaded", p.ApparmorProfile))
		}
	}
	return nil
}

package cri

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	ocispec "github.com/crisp-runtime/crisp/pkg/oci/spec"
)

// Bounds on request fields. Every field that reaches a file, a kernel call
// or a plugin is bounded here, before anything is made; the numbers follow
// what Kubernetes itself allows, so kubelet never meets them.
const (
	// maxNameLen bounds metadata names, namespaces and uids, the runtime
	// handler and a container's name: Kubernetes object names are DNS
	// subdomains of at most 253 bytes.
	maxNameLen = 253
	// maxHostnameLen is the kernel's HOST_NAME_MAX.
	maxHostnameLen = 64
	// maxLabelKeyLen is a Kubernetes qualified name: a DNS-subdomain prefix
	// of 253 bytes, a slash and a 63-byte name.
	maxLabelKeyLen = 253 + 1 + 63
	// maxLabelValueLen allows the object names kubelet puts in label values.
	maxLabelValueLen = maxNameLen
	// maxAnnotationsSize is Kubernetes' limit on an object's annotations,
	// keys and values together.
	maxAnnotationsSize = 256 << 10
	// maxImageRefLen bounds an image reference: a repository name of at most
	// 255 bytes, a 128-byte tag and a digest fit with room to spare.
	maxImageRefLen = 1024
	// maxAuthFieldLen bounds each credential of a pull: registry tokens
	// (JWTs, cloud access tokens) run to a few KiB. All five together stay
	// well inside what crisp-image reads of a request.
	maxAuthFieldLen = 64 << 10
	// maxPathLen is the kernel's PATH_MAX.
	maxPathLen = 4096
	// maxArgLen is the kernel's MAX_ARG_STRLEN: execve refuses a longer
	// argument or environment string.
	maxArgLen = 128 << 10
	// maxDNSServers is glibc's MAXNS: further nameserver lines are ignored,
	// so they are refused rather than silently dropped (kubelet sends at
	// most three).
	maxDNSServers = 3
	// maxDNSSearches and maxDNSSearchChars are kubelet's limits on the
	// search list (MaxDNSSearchPaths, MaxDNSSearchListChars); glibc 2.26
	// and later read a search line of any length.
	maxDNSSearches    = 32
	maxDNSSearchChars = 2048
	// maxDNSOptions bounds the options line; resolv.conf has no more than a
	// dozen distinct options.
	maxDNSOptions = 32
	// maxPortMappings bounds a pod's port mappings; each becomes iptables
	// rules in the portmap plugin.
	maxPortMappings = 1024
	// maxListLen bounds the other repeated fields (command, args, envs,
	// mounts, devices).
	maxListLen = 4096
)

// inField renames a field error of a lower package to the CRI field path
// below prefix (for example "linux.sysctls[x]" becomes
// "config.linux.sysctls[x]"); other errors are returned as they are.
func inField(prefix string, err error) error {
	var fe *errdefs.FieldError
	if errors.As(err, &fe) && !strings.HasPrefix(fe.Field, prefix+".") {
		return errdefs.InvalidField(prefix+"."+fe.Field, fe.Problem)
	}
	return err
}

// checkText refuses strings that are too long, not UTF-8 or carry control
// characters: a NUL ends a C string early, and a newline adds a line to
// the file or log the string is written to.
func checkText(field, s string, maxLen int) error {
	if len(s) > maxLen {
		return errdefs.InvalidField(field, fmt.Sprintf("longer than %d bytes", maxLen))
	}
	if !utf8.ValidString(s) {
		return errdefs.InvalidField(field, "not valid UTF-8")
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return errdefs.InvalidField(field, fmt.Sprintf("contains control character %q", r))
		}
	}
	return nil
}

// checkName checks a metadata name, namespace or uid: not empty, bounded,
// printable, and without whitespace, '/' (names are never paths) or the ';'
// and '=' that separate CNI_ARGS.
func checkName(field, s string) error {
	if s == "" {
		return errdefs.InvalidField(field, "must not be empty")
	}
	if err := checkText(field, s, maxNameLen); err != nil {
		return err
	}
	for _, r := range s {
		if unicode.IsSpace(r) || strings.ContainsRune("/;=", r) {
			return errdefs.InvalidField(field, fmt.Sprintf("contains %q", r))
		}
	}
	return nil
}

// checkStrings checks a list of strings that becomes the arguments or
// environment of a process: bounded, and no NUL, which execve cannot pass.
func checkStrings(field string, list []string) error {
	if len(list) > maxListLen {
		return errdefs.InvalidField(field, fmt.Sprintf("more than %d entries", maxListLen))
	}
	for i, s := range list {
		if err := checkArg(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return err
		}
	}
	return nil
}

func checkArg(field, s string) error {
	if len(s) >= maxArgLen {
		return errdefs.InvalidField(field, fmt.Sprintf("%d bytes or longer", maxArgLen))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errdefs.InvalidField(field, "contains a NUL byte")
	}
	return nil
}

// checkPath checks a path that reaches a file or kernel call: bounded, no
// NUL and no other control character. Whether it must be absolute is the
// caller's rule.
func checkPath(field, p string) error {
	return checkText(field, p, maxPathLen)
}

// checkLabels bounds label keys and values and refuses control characters
// in either: labels are echoed in lists, logs and filters.
func checkLabels(field string, labels map[string]string) error {
	total := 0
	for k, v := range labels {
		f := field + "[" + k + "]"
		if k == "" {
			return errdefs.InvalidField(f, "key must not be empty")
		}
		if err := checkText(f, k, maxLabelKeyLen); err != nil {
			return err
		}
		if err := checkText(f, v, maxLabelValueLen); err != nil {
			return err
		}
		if total += len(k) + len(v); total > maxAnnotationsSize {
			return errdefs.InvalidField(field, fmt.Sprintf("larger than %d bytes in total", maxAnnotationsSize))
		}
	}
	return nil
}

// checkAnnotations bounds the annotations' total size and refuses control
// characters in keys; values are free text (often JSON) but hold no NUL.
func checkAnnotations(field string, annotations map[string]string) error {
	total := 0
	for k, v := range annotations {
		f := field + "[" + k + "]"
		if k == "" {
			return errdefs.InvalidField(f, "key must not be empty")
		}
		if err := checkText(f, k, maxLabelKeyLen); err != nil {
			return err
		}
		if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			return errdefs.InvalidField(f, "value contains a NUL byte or is not UTF-8")
		}
		total += len(k) + len(v)
		if total > maxAnnotationsSize {
			return errdefs.InvalidField(field, fmt.Sprintf("larger than %d bytes in total", maxAnnotationsSize))
		}
	}
	return nil
}

// checkHostname checks an RFC 1123 host name (letters, digits and '-' in
// dot-separated labels of at most 63 bytes, no label starting or ending
// with '-') that the kernel takes: at most 64 bytes.
func checkHostname(field, s string) error {
	if len(s) > maxHostnameLen {
		return errdefs.InvalidField(field, fmt.Sprintf("longer than %d bytes", maxHostnameLen))
	}
	if !isDomainName(s, false) {
		return errdefs.InvalidField(field, fmt.Sprintf("%q is not an RFC 1123 host name", s))
	}
	return nil
}

// isDomainName reports whether s is a DNS name of at most 253 bytes (254
// with a trailing dot) whose labels are 1 to 63 letters, digits, '-' and,
// if underscore, '_', never starting or ending with '-'.
func isDomainName(s string, underscore bool) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// checkDNS checks what becomes the pod's resolv.conf and the CNI dns
// capability: servers are IP addresses (a zone only of name characters),
// searches domain names, options name[:value] without whitespace.
func checkDNS(dns *runtimeapi.DNSConfig) error {
	const field = "config.dns_config"
	if dns == nil {
		return nil
	}
	if len(dns.Servers) > maxDNSServers {
		return errdefs.InvalidField(field+".servers", fmt.Sprintf("more than %d servers", maxDNSServers))
	}
	for i, s := range dns.Servers {
		if _, err := parseIP(s); err != nil {
			return errdefs.InvalidField(fmt.Sprintf("%s.servers[%d]", field, i), err.Error())
		}
	}
	if len(dns.Searches) > maxDNSSearches {
		return errdefs.InvalidField(field+".searches", fmt.Sprintf("more than %d search domains", maxDNSSearches))
	}
	chars := 0
	for i, s := range dns.Searches {
		if !isDomainName(s, true) {
			return errdefs.InvalidField(fmt.Sprintf("%s.searches[%d]", field, i), fmt.Sprintf("%q is not a domain name", s))
		}
		chars += len(s) + 1
	}
	if chars > maxDNSSearchChars {
		return errdefs.InvalidField(field+".searches", fmt.Sprintf("longer than %d characters in total", maxDNSSearchChars))
	}
	if len(dns.Options) > maxDNSOptions {
		return errdefs.InvalidField(field+".options", fmt.Sprintf("more than %d options", maxDNSOptions))
	}
	for i, o := range dns.Options {
		if !isDNSOption(o) {
			return errdefs.InvalidField(fmt.Sprintf("%s.options[%d]", field, i), fmt.Sprintf("%q is not an option name[:value]", o))
		}
	}
	return nil
}

// isDNSOption reports whether o is a resolv.conf option: a name of letters,
// digits, '-' and '_', and an optional ':value' of the same and '.'.
func isDNSOption(o string) bool {
	name, value, hasValue := strings.Cut(o, ":")
	if name == "" || len(o) > 255 || (hasValue && value == "") {
		return false
	}
	word := func(s string, dot bool) bool {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || dot && c == '.') {
				return false
			}
		}
		return true
	}
	return word(name, false) && word(value, true)
}

// parseIP parses an IP address; a zone, allowed for a link-local server,
// may only hold an interface name's characters.
func parseIP(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if z := addr.Zone(); z != "" && (len(z) > 15 || strings.ContainsFunc(z, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})) {
		return netip.Addr{}, fmt.Errorf("%q has an invalid zone", s)
	}
	return addr, nil
}

// checkPortMapping checks a port mapping before it reaches the portmap
// plugin: a known protocol, ports in range and a host IP that is empty or
// an address without a zone.
func checkPortMapping(field string, pm *runtimeapi.PortMapping) error {
	if pm == nil {
		return errdefs.InvalidField(field, "must be set")
	}
	if _, ok := runtimeapi.Protocol_name[int32(pm.Protocol)]; !ok {
		return errdefs.InvalidField(field+".protocol", fmt.Sprintf("unknown protocol %d", pm.Protocol))
	}
	if pm.ContainerPort <= 0 || pm.ContainerPort > 65535 {
		return errdefs.InvalidField(field+".container_port", fmt.Sprintf("%d is not a port (1-65535)", pm.ContainerPort))
	}
	if pm.HostPort < 0 || pm.HostPort > 65535 {
		return errdefs.InvalidField(field+".host_port", fmt.Sprintf("%d is not a port (0-65535)", pm.HostPort))
	}
	if pm.HostIp != "" {
		addr, err := netip.ParseAddr(pm.HostIp)
		if err != nil || addr.Zone() != "" {
			return errdefs.InvalidField(field+".host_ip", fmt.Sprintf("%q is not an IP address", pm.HostIp))
		}
	}
	return nil
}

// validatePodConfig checks every field of a PodSandboxConfig that reaches
// a file, a kernel call or a plugin. The namespace modes and sysctls are
// checked by sandboxSpec, which knows the pod's modes.
func validatePodConfig(cfg *runtimeapi.PodSandboxConfig, handler string) error {
	if cfg == nil {
		return errdefs.InvalidField("config", "must be set")
	}
	md := cfg.GetMetadata()
	if md == nil {
		return errdefs.InvalidField("config.metadata", "must be set")
	}
	if err := checkName("config.metadata.name", md.Name); err != nil {
		return err
	}
	if err := checkName("config.metadata.uid", md.Uid); err != nil {
		return err
	}
	if err := checkName("config.metadata.namespace", md.Namespace); err != nil {
		return err
	}
	if handler != "" {
		if err := checkName("runtime_handler", handler); err != nil {
			return err
		}
	}
	if h := cfg.GetHostname(); h != "" {
		if err := checkHostname("config.hostname", h); err != nil {
			return err
		}
	}
	if dir := cfg.GetLogDirectory(); dir != "" {
		if err := checkPath("config.log_directory", dir); err != nil {
			return err
		}
		if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
			return errdefs.InvalidField("config.log_directory", fmt.Sprintf("%q is not a clean absolute path", dir))
		}
	}
	if err := checkDNS(cfg.GetDnsConfig()); err != nil {
		return err
	}
	if len(cfg.GetPortMappings()) > maxPortMappings {
		return errdefs.InvalidField("config.port_mappings", fmt.Sprintf("more than %d port mappings", maxPortMappings))
	}
	for i, pm := range cfg.GetPortMappings() {
		if err := checkPortMapping(fmt.Sprintf("config.port_mappings[%d]", i), pm); err != nil {
			return err
		}
	}
	if err := checkLabels("config.labels", cfg.GetLabels()); err != nil {
		return err
	}
	if err := checkAnnotations("config.annotations", cfg.GetAnnotations()); err != nil {
		return err
	}
	if err := checkSELinux("config.linux.security_context.selinux_options", cfg.GetLinux().GetSecurityContext().GetSelinuxOptions()); err != nil {
		return err
	}
	if p := cfg.GetLinux().GetCgroupParent(); p != "" {
		// Its form is the cgroup driver's to check (pkg/cgroups).
		if err := checkPath("config.linux.cgroup_parent", p); err != nil {
			return err
		}
	}
	// A pause-less pod runs no process to confine, but a profile it names
	// must be one its containers could load, as a pause container's would.
	if p := cfg.GetLinux().GetSecurityContext().GetSeccomp(); p.GetProfileType() == runtimeapi.SecurityProfile_Localhost {
		if err := ocispec.CheckLocalhostSeccomp("config.linux.security_context.seccomp.localhost_ref", p.GetLocalhostRef()); err != nil {
			return err
		}
	}
	return nil
}

// validateContainerConfig checks every field of a ContainerConfig that
// reaches a file, a kernel call or a process. What depends on the host
// (mount sources, devices, profiles) is checked where the spec is built.
func validateContainerConfig(cfg *runtimeapi.ContainerConfig) error {
	if cfg == nil {
		return errdefs.InvalidField("config", "must be set")
	}
	if err := checkName("config.metadata.name", cfg.GetMetadata().GetName()); err != nil {
		return err
	}
	if err := checkImageRef("config.image.image", cfg.GetImage().GetImage()); err != nil {
		return err
	}
	if err := checkLogPath(cfg.GetLogPath()); err != nil {
		return err
	}
	if err := checkStrings("config.command", cfg.GetCommand()); err != nil {
		return err
	}
	if err := checkStrings("config.args", cfg.GetArgs()); err != nil {
		return err
	}
	if dir := cfg.GetWorkingDir(); dir != "" {
		if err := checkPath("config.working_dir", dir); err != nil {
			return err
		}
		if !filepath.IsAbs(dir) {
			return errdefs.InvalidField("config.working_dir", fmt.Sprintf("%q is not an absolute path", dir))
		}
	}
	if len(cfg.GetEnvs()) > maxListLen {
		return errdefs.InvalidField("config.envs", fmt.Sprintf("more than %d entries", maxListLen))
	}
	for i, kv := range cfg.GetEnvs() {
		field := fmt.Sprintf("config.envs[%d]", i)
		if kv == nil {
			return errdefs.InvalidField(field, "must be set")
		}
		key := kv.GetKey()
		if key == "" || strings.ContainsAny(key, "=\x00") {
			return errdefs.InvalidField(field+".key", fmt.Sprintf("%q is not a variable name", key))
		}
		if err := checkArg(field, key+"="+string(kv.GetValue())); err != nil {
			return err
		}
	}
	if len(cfg.GetMounts()) > maxListLen {
		return errdefs.InvalidField("config.mounts", fmt.Sprintf("more than %d entries", maxListLen))
	}
	for i, m := range cfg.GetMounts() {
		field := fmt.Sprintf("config.mounts[%d]", i)
		if m == nil {
			return errdefs.InvalidField(field, "must be set")
		}
		if err := checkPath(field+".container_path", m.GetContainerPath()); err != nil {
			return err
		}
		if err := checkPath(field+".host_path", m.GetHostPath()); err != nil {
			return err
		}
		if err := checkImageVolume(field, m); err != nil {
			return err
		}
	}
	if len(cfg.GetDevices()) > maxListLen {
		return errdefs.InvalidField("config.devices", fmt.Sprintf("more than %d entries", maxListLen))
	}
	for i, d := range cfg.GetDevices() {
		field := fmt.Sprintf("config.devices[%d]", i)
		if d == nil {
			return errdefs.InvalidField(field, "must be set")
		}
		if err := checkPath(field+".container_path", d.GetContainerPath()); err != nil {
			return err
		}
		if err := checkPath(field+".host_path", d.GetHostPath()); err != nil {
			return err
		}
	}
	if err := checkLabels("config.labels", cfg.GetLabels()); err != nil {
		return err
	}
	if err := checkAnnotations("config.annotations", cfg.GetAnnotations()); err != nil {
		return err
	}
	return checkSecurityProfiles(cfg.GetLinux().GetSecurityContext())
}

// checkImageVolume checks the image volume fields of a mount: an image
// instead of a host path, read-only, and a sub path that stays inside the
// image (whether it exists is known once the image is mounted).
func checkImageVolume(field string, m *runtimeapi.Mount) error {
	sub := m.GetImageSubPath()
	if m.GetImage() == nil {
		if sub != "" {
			return errdefs.InvalidField(field+".image_sub_path", "is only for an image volume")
		}
		return nil
	}
	if err := checkImageRef(field+".image.image", m.GetImage().GetImage()); err != nil {
		return err
	}
	switch {
	case m.GetHostPath() != "":
		return errdefs.InvalidField(field+".host_path", "must be empty when image is set")
	case !m.GetReadonly():
		return errdefs.InvalidField(field+".readonly", "an image volume is read-only: must be true")
	}
	if sub == "" {
		return nil
	}
	if err := checkPath(field+".image_sub_path", sub); err != nil {
		return err
	}
	if !filepath.IsLocal(sub) {
		return errdefs.InvalidField(field+".image_sub_path", fmt.Sprintf("%q is not a relative path inside the image", sub))
	}
	return nil
}

// checkAuth checks the credentials of a pull: each bounded and free of
// control characters (they go into HTTP headers).
func checkAuth(a *runtimeapi.AuthConfig) error {
	for _, f := range []struct{ field, value string }{
		{"auth.username", a.GetUsername()},
		{"auth.password", a.GetPassword()},
		{"auth.auth", a.GetAuth()},
		{"auth.identity_token", a.GetIdentityToken()},
		{"auth.registry_token", a.GetRegistryToken()},
	} {
		if err := checkText(f.field, f.value, maxAuthFieldLen); err != nil {
			return err
		}
	}
	return nil
}

// checkImageRef checks an image reference or ID before it is parsed,
// looked up or echoed in an error: not empty, bounded, printable.
func checkImageRef(field, ref string) error {
	if ref == "" {
		return errdefs.InvalidField(field, "must not be empty")
	}
	return checkText(field, ref, maxImageRefLen)
}

// checkLogPath checks config.log_path: relative to the pod's log
// directory and staying inside it.
func checkLogPath(p string) error {
	const field = "config.log_path"
	if p == "" {
		return nil
	}
	if err := checkPath(field, p); err != nil {
		return err
	}
	if !filepath.IsLocal(p) {
		return errdefs.InvalidField(field, fmt.Sprintf("%q is not a path inside the pod's log directory", p))
	}
	return nil
}

// checkSELinux refuses SELinux labels: crisp does not label processes or
// files, and a label asked for must not be silently dropped.
func checkSELinux(field string, o *runtimeapi.SELinuxOption) error {
	if o.GetUser()+o.GetRole()+o.GetType()+o.GetLevel() != "" {
		return errdefs.InvalidField(field, "crisp does not support SELinux: labels must be empty")
	}
	return nil
}

// checkSecurityProfiles checks the profile names and paths of a
// container's security context, which reach the file system, and refuses
// SELinux labels.
func checkSecurityProfiles(sc *runtimeapi.LinuxContainerSecurityContext) error {
	const field = "config.linux.security_context."
	if sc == nil {
		return nil
	}
	if err := checkSELinux(field+"selinux_options", sc.GetSelinuxOptions()); err != nil {
		return err
	}
	checks := []struct{ field, value string }{
		{field + "seccomp.localhost_ref", sc.GetSeccomp().GetLocalhostRef()},
		{field + "apparmor.localhost_ref", sc.GetApparmor().GetLocalhostRef()},
		//lint:ignore SA1019 older kubelets still send the path fields.
		{field + "seccomp_profile_path", sc.GetSeccompProfilePath()},
		//lint:ignore SA1019 older kubelets still send the path fields.
		{field + "apparmor_profile", sc.GetApparmorProfile()},
	}
	for _, c := range checks {
		if err := checkPath(c.field, c.value); err != nil {
			return err
		}
	}
	for i, p := range sc.GetMaskedPaths() {
		if err := checkPath(fmt.Sprintf("%smasked_paths[%d]", field, i), p); err != nil {
			return err
		}
	}
	for i, p := range sc.GetReadonlyPaths() {
		if err := checkPath(fmt.Sprintf("%sreadonly_paths[%d]", field, i), p); err != nil {
			return err
		}
	}
	return nil
}

// checkExecCmd checks an exec's command line: not empty, and no entry that
// execve cannot pass.
func checkExecCmd(cmd []string) error {
	if len(cmd) == 0 {
		return errdefs.InvalidField("cmd", "must not be empty")
	}
	return checkStrings("cmd", cmd)
}

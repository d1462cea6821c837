// Package version owns crisp's identity: its name and the version stamped into
// the binary at build time or read from the Go build information.
package version

import "runtime/debug"

// Name is the runtime name reported to kubelet.
const Name = "crisp"

// version is set at link time: -ldflags "-X .../pkg/version.version=v0.1.0".
var version = ""

// Version returns the build's version: the link-time stamp when present,
// else the module version, else the VCS revision, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

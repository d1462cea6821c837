package oci

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/crisp-runtime/crisp/pkg/oci/seccomp"
	"github.com/crisp-runtime/crisp/pkg/version"
)

// Features reports what this executor implements, in the runtime spec's
// features format (what `runc features` prints).
func Features() *features.Features {
	yes, no := true, false
	var mountOpts []string
	for o := range mountFlags {
		mountOpts = append(mountOpts, o)
	}
	for o := range propagationFlags {
		mountOpts = append(mountOpts, o)
	}
	for o := range recursiveAttrs {
		mountOpts = append(mountOpts, o)
	}
	sort.Strings(mountOpts)
	var nss []string
	for t := range nsKinds {
		nss = append(nss, string(t))
	}
	sort.Strings(nss)
	var caps []string
	for name := range capsByName() {
		caps = append(caps, name)
	}
	sort.Strings(caps)
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  mountOpts,
		Linux: &features.Linux{
			Namespaces:   nss,
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &no, V2: &yes, Systemd: &yes, SystemdUser: &no},
			Seccomp: &features.Seccomp{
				Enabled:   &yes,
				Actions:   []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
				Operators: []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
				Archs:     seccomp.Architectures(),
				KnownFlags: []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC",
					"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"},
				SupportedFlags: []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC",
					"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"},
			},
			Apparmor:        &features.Apparmor{Enabled: &yes},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
		},
		Annotations: map[string]string{"io.github.crisp-runtime.crisp.version": version.Version()},
	}
}

//lint:file-ignore SA1019 older kubelets still send the deprecated fields, which must keep working.

package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	// ociProfile is a profile in the runtime spec's own format.
	ociProfile = `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`
	// mobyProfile uses moby's extensions: archMap and capability filters.
	mobyProfile = `{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
		"syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}}]}`
)

func TestBuildSeccomp(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"oci.json": ociProfile, "moby.json": mobyProfile, "bad.json": "{", "empty.json": "{}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	profile := func(typ runtimeapi.SecurityProfile_ProfileType, ref string) func(c *Container) {
		return func(c *Container) { sc(c).Seccomp = &runtimeapi.SecurityProfile{ProfileType: typ, LocalhostRef: ref} }
	}
	path := func(p string) func(c *Container) {
		return func(c *Container) { sc(c).SeccompProfilePath = p }
	}
	isDefault := func(t *testing.T, s *specs.LinuxSeccomp) {
		if s == nil || s.DefaultAction != specs.ActErrno || len(s.Syscalls) < 10 {
			t.Fatalf("profile %+v, want moby's default (defaultAction ERRNO)", s)
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(c *Container)
		check func(t *testing.T, s *specs.LinuxSeccomp)
		field string
	}{
		{"unset is unconfined", nil, nil, ""},
		{"unconfined", profile(runtimeapi.SecurityProfile_Unconfined, ""), nil, ""},
		{"runtime default", profile(runtimeapi.SecurityProfile_RuntimeDefault, ""), isDefault, ""},
		{"runtime default ignores the deprecated path", func(c *Container) {
			profile(runtimeapi.SecurityProfile_RuntimeDefault, "")(c)
			sc(c).SeccompProfilePath = "unconfined"
		}, isDefault, ""},
		{"privileged is unconfined", func(c *Container) {
			profile(runtimeapi.SecurityProfile_RuntimeDefault, "")(c)
			c.Pod.Privileged, sc(c).Privileged = true, true
		}, nil, ""},
		{"localhost OCI profile", profile(runtimeapi.SecurityProfile_Localhost, filepath.Join(dir, "oci.json")), func(t *testing.T, s *specs.LinuxSeccomp) {
			if s == nil || s.DefaultAction != specs.ActAllow || len(s.Syscalls) != 1 || !slices.Equal(s.Syscalls[0].Names, []string{"mkdir", "mkdirat"}) ||
				s.Syscalls[0].ErrnoRet == nil || *s.Syscalls[0].ErrnoRet != 13 {
				t.Errorf("profile %+v, want the file's", s)
			}
		}, ""},
		{"localhost moby profile", profile(runtimeapi.SecurityProfile_Localhost, filepath.Join(dir, "moby.json")), func(t *testing.T, s *specs.LinuxSeccomp) {
			// Without CAP_SYS_BOOT the reboot rule is left out.
			if s == nil || len(s.Syscalls) != 1 || !slices.Contains(s.Architectures, specs.ArchX86) {
				t.Errorf("profile %+v, want read/write only, for x86_64 and x86", s)
			}
		}, ""},
		{"localhost missing", profile(runtimeapi.SecurityProfile_Localhost, filepath.Join(dir, "missing.json")), nil, "linux.security_context.seccomp.localhost_ref"},
		{"localhost relative", profile(runtimeapi.SecurityProfile_Localhost, "oci.json"), nil, "linux.security_context.seccomp.localhost_ref"},
		{"localhost not JSON", profile(runtimeapi.SecurityProfile_Localhost, filepath.Join(dir, "bad.json")), nil, "linux.security_context.seccomp.localhost_ref"},
		{"localhost empty", profile(runtimeapi.SecurityProfile_Localhost, filepath.Join(dir, "empty.json")), nil, "linux.security_context.seccomp.localhost_ref"},
		{"unknown type", profile(7, ""), nil, "linux.security_context.seccomp.profile_type"},
		{"deprecated runtime/default", path("runtime/default"), isDefault, ""},
		{"deprecated docker/default", path("docker/default"), isDefault, ""},
		{"deprecated unconfined", path("unconfined"), nil, ""},
		{"deprecated localhost", path("localhost/" + filepath.Join(dir, "oci.json")), func(t *testing.T, s *specs.LinuxSeccomp) {
			if s == nil || s.DefaultAction != specs.ActAllow {
				t.Errorf("profile %+v, want the file's", s)
			}
		}, ""},
		{"deprecated nonsense", path("strict"), nil, "linux.security_context.seccomp_profile_path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(testContainer(t, tc.edit))
			checkFieldError(t, err, tc.field)
			if err != nil {
				return
			}
			if tc.check == nil {
				if s.Linux.Seccomp != nil {
					t.Errorf("seccomp %+v, want unconfined", s.Linux.Seccomp)
				}
				return
			}
			tc.check(t, s.Linux.Seccomp)
		})
	}
}

// TestDefaultSeccompFollowsCapabilities checks that the default profile is
// made for the final capabilities: CAP_SYS_ADMIN opens mount and friends.
func TestDefaultSeccompFollowsCapabilities(t *testing.T) {
	allows := func(s *specs.LinuxSeccomp, call string) bool {
		for _, r := range s.Syscalls {
			if r.Action == specs.ActAllow && slices.Contains(r.Names, call) {
				return true
			}
		}
		return false
	}
	for _, add := range [][]string{nil, {"SYS_ADMIN"}} {
		s, err := Build(testContainer(t, func(c *Container) {
			sc(c).Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
			sc(c).Capabilities = &runtimeapi.Capability{AddCapabilities: add}
		}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := allows(s.Linux.Seccomp, "mount"), add != nil; got != want {
			t.Errorf("with added %q the default profile allows mount: %v, want %v", add, got, want)
		}
	}
}

//lint:file-ignore SA1019 older kubelets still send the deprecated fields, which must keep working.

package spec

import (
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestApplySecurity(t *testing.T) {
	for _, tc := range []struct {
		name             string
		edit             func(c *Container)
		masked, readonly []string
		noNewPrivs       bool
		field            string
	}{
		{"defaults", nil, defaultMaskedPaths, defaultReadonlyPaths, false, ""},
		{"kubelet's lists", func(c *Container) {
			sc(c).MaskedPaths = []string{"/proc/kcore", "/proc/keys/"}
			sc(c).ReadonlyPaths = []string{"/proc/sys"}
		}, []string{"/proc/kcore", "/proc/keys"}, []string{"/proc/sys"}, false, ""},
		{"unmasked proc", func(c *Container) {
			sc(c).MaskedPaths, sc(c).ReadonlyPaths = []string{}, []string{}
		}, []string{}, []string{}, false, ""},
		{"privileged", func(c *Container) {
			c.Pod.Privileged, sc(c).Privileged = true, true
			sc(c).MaskedPaths = []string{"/proc/kcore"}
		}, nil, nil, false, ""},
		{"no_new_privs", func(c *Container) { sc(c).NoNewPrivs = true }, defaultMaskedPaths, defaultReadonlyPaths, true, ""},
		{"relative masked path", func(c *Container) { sc(c).MaskedPaths = []string{"/a", "proc"} }, nil, nil, false, "linux.security_context.masked_paths[1]"},
		{"relative read-only path", func(c *Container) { sc(c).ReadonlyPaths = []string{"proc"} }, nil, nil, false, "linux.security_context.readonly_paths[0]"},
		{"AppArmor runtime default", func(c *Container) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
		}, defaultMaskedPaths, defaultReadonlyPaths, false, ""},
		{"AppArmor unconfined", func(c *Container) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
		}, defaultMaskedPaths, defaultReadonlyPaths, false, ""},
		{"AppArmor localhost without AppArmor", func(c *Container) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "k8s-nginx"}
		}, nil, nil, false, "linux.security_context.apparmor.localhost_ref"},
		{"deprecated AppArmor localhost without AppArmor", func(c *Container) { sc(c).ApparmorProfile = "localhost/k8s-nginx" }, nil, nil, false, "linux.security_context.apparmor_profile"},
		{"deprecated AppArmor runtime default", func(c *Container) { sc(c).ApparmorProfile = "runtime/default" }, defaultMaskedPaths, defaultReadonlyPaths, false, ""},
		{"deprecated AppArmor nonsense", func(c *Container) { sc(c).ApparmorProfile = "strict" }, nil, nil, false, "linux.security_context.apparmor_profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(testContainer(t, tc.edit))
			checkFieldError(t, err, tc.field)
			if err != nil {
				return
			}
			if !slices.Equal(s.Linux.MaskedPaths, tc.masked) || (s.Linux.MaskedPaths == nil) != (tc.masked == nil) {
				t.Errorf("masked paths %#v, want %#v", s.Linux.MaskedPaths, tc.masked)
			}
			if !slices.Equal(s.Linux.ReadonlyPaths, tc.readonly) || (s.Linux.ReadonlyPaths == nil) != (tc.readonly == nil) {
				t.Errorf("read-only paths %#v, want %#v", s.Linux.ReadonlyPaths, tc.readonly)
			}
			if s.Process.NoNewPrivileges != tc.noNewPrivs {
				t.Errorf("noNewPrivileges %v, want %v", s.Process.NoNewPrivileges, tc.noNewPrivs)
			}
		})
	}
}

// loadedProfiles is a host's AppArmor with these profiles loaded.
type loadedProfiles []string

func (l loadedProfiles) Loaded(name string) (bool, error) { return slices.Contains(l, name), nil }

func TestAppArmorProfile(t *testing.T) {
	const field = "linux.security_context.apparmor.localhost_ref"
	host := loadedProfiles{"k8s-nginx"}
	localhost := func(ref string) func(c *Container) {
		return func(c *Container) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: ref}
		}
	}
	runtimeDefault := func(c *Container) {
		sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	}
	privileged := func(c *Container) { c.Pod.Privileged, sc(c).Privileged = true, true }
	for _, tc := range []struct {
		name    string
		host    AppArmor
		edit    []func(c *Container)
		profile string
		field   string
	}{
		{"nothing asked, AppArmor", host, nil, "crisp-default", ""},
		{"nothing asked, no AppArmor", nil, nil, "", ""},
		{"nothing asked, privileged", host, []func(*Container){privileged}, "", ""},
		{"runtime default, privileged", host, []func(*Container){privileged, runtimeDefault}, "crisp-default", ""},
		{"runtime default, no AppArmor", nil, []func(*Container){runtimeDefault}, "", ""},
		{"unconfined", host, []func(*Container){func(c *Container) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
		}}, "", ""},
		{"localhost, loaded", host, []func(*Container){localhost("k8s-nginx")}, "k8s-nginx", ""},
		{"localhost with its prefix", host, []func(*Container){localhost("localhost/k8s-nginx")}, "k8s-nginx", ""},
		{"localhost, not loaded", host, []func(*Container){localhost("k8s-other")}, "", field},
		{"localhost, no AppArmor", nil, []func(*Container){localhost("k8s-nginx")}, "", field},
		{"localhost, empty", host, []func(*Container){localhost("")}, "", field},
		{"localhost, newline", host, []func(*Container){localhost("k8s-nginx\nchangeprofile")}, "", field},
		{"deprecated localhost, loaded", host, []func(*Container){func(c *Container) { sc(c).ApparmorProfile = "localhost/k8s-nginx" }}, "k8s-nginx", ""},
		{"deprecated localhost, not loaded", host, []func(*Container){func(c *Container) { sc(c).ApparmorProfile = "localhost/x" }}, "", "linux.security_context.apparmor_profile"},
		{"deprecated unconfined", host, []func(*Container){func(c *Container) { sc(c).ApparmorProfile = "unconfined" }}, "", ""},
		{"unknown type", host, []func(*Container){func(c *Container) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: 7}
		}}, "", "linux.security_context.apparmor.profile_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(testContainer(t, func(c *Container) {
				c.AppArmor = tc.host
				for _, e := range tc.edit {
					e(c)
				}
			}))
			checkFieldError(t, err, tc.field)
			if err == nil && s.Process.ApparmorProfile != tc.profile {
				t.Errorf("profile %q, want %q", s.Process.ApparmorProfile, tc.profile)
			}
		})
	}
}

// TestDefaultPathsAreCopies makes sure a caller changing one spec's lists
// does not change the next container's defaults.
func TestDefaultPathsAreCopies(t *testing.T) {
	s, err := Build(testContainer(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	s.Linux.MaskedPaths[0], s.Linux.ReadonlyPaths[0] = "/changed", "/changed"
	if defaultMaskedPaths[0] == "/changed" || defaultReadonlyPaths[0] == "/changed" {
		t.Error("the spec shares the default lists")
	}
}

package spec

import (
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestBuildCapabilities(t *testing.T) {
	held, err := heldCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	all := held.names()
	if len(all) < len(defaultCapabilities) {
		t.Skipf("needs the default capabilities; the test process holds only %q", all)
	}
	without := func(set []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(set), func(c string) bool { return slices.Contains(drop, c) })
	}
	defaults := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
		"CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}
	for _, tc := range []struct {
		name              string
		caps              *runtimeapi.Capability
		privileged        bool
		want, wantAmbient []string
		field             string
	}{
		{"defaults", nil, false, defaults, nil, ""},
		{"add, any spelling", &runtimeapi.Capability{AddCapabilities: []string{"sys_admin", "CAP_NET_ADMIN", "Sys_Time"}}, false,
			append(slices.Clone(defaults), "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_TIME"), nil, ""},
		{"drop", &runtimeapi.Capability{DropCapabilities: []string{"NET_RAW", "cap_mknod"}}, false, without(defaults, "CAP_NET_RAW", "CAP_MKNOD"), nil, ""},
		{"drop wins over add", &runtimeapi.Capability{AddCapabilities: []string{"SYS_ADMIN"}, DropCapabilities: []string{"SYS_ADMIN"}}, false, defaults, nil, ""},
		{"drop ALL", &runtimeapi.Capability{DropCapabilities: []string{"ALL"}}, false, nil, nil, ""},
		{"drop ALL, add one", &runtimeapi.Capability{DropCapabilities: []string{"all"}, AddCapabilities: []string{"NET_BIND_SERVICE"}}, false,
			[]string{"CAP_NET_BIND_SERVICE"}, nil, ""},
		{"add ALL", &runtimeapi.Capability{AddCapabilities: []string{"ALL"}}, false, all, nil, ""},
		{"add ALL, drop one", &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"SYS_ADMIN"}}, false,
			without(all, "CAP_SYS_ADMIN"), nil, ""},
		{"ALL in both", &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"ALL"}}, false, nil, nil, ""},
		{"ambient", &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddAmbientCapabilities: []string{"NET_BIND_SERVICE"}}, false,
			[]string{"CAP_NET_BIND_SERVICE"}, []string{"CAP_NET_BIND_SERVICE"}, ""},
		{"privileged", &runtimeapi.Capability{DropCapabilities: []string{"ALL"}}, true, all, nil, ""},
		{"unknown add", &runtimeapi.Capability{AddCapabilities: []string{"CHOWN", "CAP_FLY"}}, false, nil, nil, "linux.security_context.capabilities.add_capabilities[1]"},
		{"unknown drop", &runtimeapi.Capability{DropCapabilities: []string{"nope"}}, false, nil, nil, "linux.security_context.capabilities.drop_capabilities[0]"},
		{"ALL is not ambient", &runtimeapi.Capability{AddAmbientCapabilities: []string{"ALL"}}, false, nil, nil, "linux.security_context.capabilities.add_ambient_capabilities[0]"},
		{"unknown in a privileged container", &runtimeapi.Capability{AddCapabilities: []string{"FLY"}}, true, nil, nil, "linux.security_context.capabilities.add_capabilities[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caps, err := buildCapabilities(&runtimeapi.LinuxContainerSecurityContext{Capabilities: tc.caps, Privileged: tc.privileged})
			checkFieldError(t, err, tc.field)
			if err != nil {
				return
			}
			want := sortCaps(tc.want)
			for name, set := range map[string][]string{"bounding": caps.Bounding, "effective": caps.Effective, "permitted": caps.Permitted} {
				if !slices.Equal(sortCaps(set), want) {
					t.Errorf("%s %q, want %q", name, set, want)
				}
			}
			wantAmbient := sortCaps(tc.wantAmbient)
			if !slices.Equal(sortCaps(caps.Ambient), wantAmbient) || !slices.Equal(sortCaps(caps.Inheritable), wantAmbient) {
				t.Errorf("ambient %q, inheritable %q; want both %q", caps.Ambient, caps.Inheritable, wantAmbient)
			}
		})
	}
}

func sortCaps(names []string) []string {
	s := slices.Clone(names)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

package oci

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// capMask is the /proc/<pid>/status hex mask of capability names.
func capMask(t *testing.T, names ...string) string {
	t.Helper()
	caps, err := parseCaps(names)
	if err != nil {
		t.Fatal(err)
	}
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return fmt.Sprintf("%016x", m)
}

func TestProcessAttributes(t *testing.T) {
	rt := newTestRuntime(t)
	umask := uint32(0o027)
	oomCur, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	self, err := capability.NewPid2(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Load(); err != nil {
		t.Fatal(err)
	}
	// Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it crisp
	// keeps the current value and warns.
	wantOOM := "-500"
	if !self.Get(capability.EFFECTIVE, capability.CAP_SYS_RESOURCE) {
		wantOOM = strings.TrimSpace(string(oomCur))
	}
	for _, tc := range []struct {
		name   string
		edit   func(*specs.Spec)
		script string
		want   string
	}{
		{
			// For root, exec keeps the permitted and effective sets.
			name: "capabilities of root",
			edit: func(s *specs.Spec) {
				bnd := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}
				s.Process.Capabilities = &specs.LinuxCapabilities{
					Bounding: bnd, Effective: bnd, Permitted: bnd,
					Inheritable: []string{"CAP_NET_BIND_SERVICE"},
					Ambient:     []string{"CAP_NET_BIND_SERVICE"},
				}
			},
			script: "grep ^Cap /proc/self/status",
			want: "CapInh:\t" + capMask(t, "CAP_NET_BIND_SERVICE") + "\n" +
				"CapPrm:\t" + capMask(t, "CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW") + "\n" +
				"CapEff:\t" + capMask(t, "CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW") + "\n" +
				"CapBnd:\t" + capMask(t, "CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW") + "\n" +
				"CapAmb:\t" + capMask(t, "CAP_NET_BIND_SERVICE") + "\n",
		},
		{
			// For another user, exec leaves the ambient set in the
			// permitted and effective sets, as the kernel defines.
			name: "capabilities of a user",
			edit: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000}
				s.Process.Capabilities = &specs.LinuxCapabilities{
					Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
					Effective:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
					Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
					Inheritable: []string{"CAP_NET_BIND_SERVICE"},
					Ambient:     []string{"CAP_NET_BIND_SERVICE"},
				}
			},
			script: "grep ^Cap /proc/self/status",
			want: "CapInh:\t" + capMask(t, "CAP_NET_BIND_SERVICE") + "\n" +
				"CapPrm:\t" + capMask(t, "CAP_NET_BIND_SERVICE") + "\n" +
				"CapEff:\t" + capMask(t, "CAP_NET_BIND_SERVICE") + "\n" +
				"CapBnd:\t" + capMask(t, "CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW") + "\n" +
				"CapAmb:\t" + capMask(t, "CAP_NET_BIND_SERVICE") + "\n",
		},
		{
			name:   "no_new_privs",
			edit:   func(s *specs.Spec) { s.Process.NoNewPrivileges = true },
			script: "grep ^NoNewPrivs /proc/self/status",
			want:   "NoNewPrivs:\t1\n",
		},
		{
			name:   "privileges allowed",
			script: "grep ^NoNewPrivs /proc/self/status",
			want:   "NoNewPrivs:\t0\n",
		},
		{
			name: "rlimits",
			edit: func(s *specs.Spec) {
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 321, Hard: 654}, {Type: "RLIMIT_NPROC", Soft: 77, Hard: 88}}
			},
			script: "ulimit -n; ulimit -Hn; grep 'Max processes' /proc/self/limits | tr -s ' '",
			want:   "321\n654\nMax processes 77 88 processes \n",
		},
		{
			name: "user and groups",
			edit: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1234, GID: 2345, AdditionalGids: []uint32{3000, 3001}, Umask: &umask}
			},
			script: "grep -E '^(Uid|Gid|Groups)' /proc/self/status; umask",
			want:   "Uid:\t1234\t1234\t1234\t1234\nGid:\t2345\t2345\t2345\t2345\nGroups:\t3000 3001 \n0027\n",
		},
		{
			name: "hostname, domainname and sysctls",
			edit: func(s *specs.Spec) {
				s.Hostname, s.Domainname = "box", "example.org"
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234", "kernel.domainname": "sysctl.example"}
			},
			script: "hostname; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/kernel/domainname",
			want:   "box\n1\n1234\nsysctl.example\n",
		},
		{
			name:   "cwd and env",
			edit:   func(s *specs.Spec) { s.Process.Cwd = "/dev"; s.Process.Env = append(s.Process.Env, "GREETING=hi") },
			script: "pwd; echo $GREETING",
			want:   "/dev\nhi\n",
		},
		{
			name: "oom_score_adj",
			edit: func(s *specs.Spec) {
				adj := -500
				s.Process.OOMScoreAdj = &adj
			},
			script: "cat /proc/self/oom_score_adj",
			want:   wantOOM + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, "sh", "-c", tc.script)
			if tc.edit != nil {
				tc.edit(spec)
			}
			out, st := runToExit(t, rt, spec)
			if st.Code != 0 || out != tc.want {
				t.Errorf("exit %+v, output %q, want %q", st, out, tc.want)
			}
		})
	}
}

// A bad config.json gets an error naming the field, and nothing is created.
func TestInvalidSpecNamesField(t *testing.T) {
	rt := newTestRuntime(t)
	for _, tc := range []struct {
		name  string
		edit  func(*specs.Spec)
		field string
	}{
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, "linux.sysctl.kernel.panic"},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:1]
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace})
			s.Hostname = ""
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "linux.sysctl.net.ipv4.ip_forward"},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, "linux.namespaces[6].type"},
		{"relative namespace path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "ns/net" }, "linux.namespaces[1].path"},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_FLY"}}
		}, "process.capabilities.bounding"},
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FUN"}} }, "process.rlimits[0].type"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd"},
		{"mappings without userns", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1, Size: 1}}
		}, "linux.uidMappings"},
		{"hostname without a uts namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.UTSNamespace })
		}, "hostname"},
		{"terminal without socket", func(s *specs.Spec) { s.Process.Terminal = true }, "process.terminal"},
		{"relative hook", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "hook"}}} }, "hooks.poststop[0].path"},
		{"huge hook timeout", func(s *specs.Spec) {
			huge := math.MaxInt
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true"}, {Path: "/bin/true", Timeout: &huge}}}
		}, "hooks.prestart[1].timeout"},
		{"hook timeout over a day", func(s *specs.Spec) {
			day := 24*60*60 + 1
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Timeout: &day}}}
		}, "hooks.poststop[0].timeout"},
		{"negative hook timeout", func(s *specs.Spec) {
			neg := -1
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Timeout: &neg}}}
		}, "hooks.createRuntime[0].timeout"},
		{"device outside /dev", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/etc/x", Type: "c"}} }, "linux.devices[0].path"},
		{"missing binary", func(s *specs.Spec) { s.Process.Args = []string{"no-such-binary"} }, "process.args[0]"},
		{"NUL in an argument", func(s *specs.Spec) { s.Process.Args = []string{"echo", "a\x00b"} }, "process.args[1]"},
		{"NUL in the environment", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "A=1\x00B=2") }, "process.env[2]"},
		{"unsupported setting", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FIFO"} }, "process.scheduler"},
		{"bad JSON type", nil, "process.args"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, "true")
			bundle := writeBundle(t, spec)
			if tc.edit != nil {
				tc.edit(spec)
				bundle = writeBundle(t, spec)
			} else {
				// A string where the spec wants a list of strings.
				data, err := os.ReadFile(bundle + "/config.json")
				if err != nil {
					t.Fatal(err)
				}
				data = []byte(strings.Replace(string(data), `"args":["true"]`, `"args":"true"`, 1))
				if err := os.WriteFile(bundle+"/config.json", data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := rt.Create(context.Background(), "bad", bundle, CreateOptions{})
			var fe *errdefs.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %v is not ErrInvalidArgument", err)
			}
			if _, err := os.Stat(rt.dir("bad")); !os.IsNotExist(err) {
				t.Errorf("state directory left behind: %v", err)
			}
		})
	}
}

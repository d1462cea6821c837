package sandbox

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// hostDomainname reads the domain name of the test's UTS namespace, which
// is the host's: the tests unshare only the network namespace.
func hostDomainname(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/sys/kernel/domainname")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// keepDomainname restores the host's domain name should a pod change it, so
// a failing test does not leave the host changed.
func keepDomainname(t *testing.T) string {
	t.Helper()
	before := hostDomainname(t)
	t.Cleanup(func() {
		if hostDomainname(t) != before {
			unix.Setdomainname([]byte(before))
		}
	})
	return before
}

func TestHostNetworkPodCannotSetUTSSysctls(t *testing.T) {
	e := newEnv(t)
	before := keepDomainname(t)
	for _, key := range []string{"kernel.domainname", "kernel.hostname"} {
		t.Run(key, func(t *testing.T) {
			spec := podSpec("hostnet-uts")
			spec.NetworkMode = ModeNode
			spec.Sysctls = map[string]string{key: "crisp-hostile.example"}
			_, err := e.m.Run(context.Background(), spec)
			if field := "linux.sysctls[" + key + "]"; !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), field) {
				t.Fatalf("Run: %v, want invalid argument naming %s", err, field)
			}
			if got := hostDomainname(t); got != before {
				t.Fatalf("host domain name changed from %q to %q", before, got)
			}
		})
	}
}

func TestPodSetsDomainnameInItsOwnUTSNamespace(t *testing.T) {
	e := newEnv(t)
	before := keepDomainname(t)
	spec := podSpec("own-uts")
	spec.Sysctls = map[string]string{"kernel.domainname": "pod.example"}
	sb, err := e.m.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, "nsenter", "--uts="+sb.Namespaces[NamespaceUTS], "cat", "/proc/sys/kernel/domainname"); got != "pod.example" {
		t.Errorf("pod's domain name = %q, want pod.example", got)
	}
	if got := hostDomainname(t); got != before {
		t.Errorf("host domain name changed from %q to %q", before, got)
	}
	if err := e.m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

func TestValidateSysctls(t *testing.T) {
	own := Spec{NetworkMode: ModePod, IPCMode: ModePod, PIDMode: ModeContainer}
	hostNet := own
	hostNet.NetworkMode = ModeNode
	hostIPC := own
	hostIPC.IPCMode = ModeNode
	tests := []struct {
		name   string
		spec   Spec
		key    string
		value  string
		reject bool
	}{
		{"net in own netns", own, "net.ipv4.ip_forward", "1", false},
		{"ipc in own ipcns", own, "kernel.shmmni", "100", false},
		{"mqueue in own ipcns", own, "fs.mqueue.msg_max", "20", false},
		{"domainname in own utsns", own, "kernel.domainname", "example", false},
		{"tab in value", own, "net.ipv4.ip_local_port_range", "1024\t65000", false},
		{"net on host network", hostNet, "net.ipv4.ip_forward", "1", true},
		{"domainname on host network", hostNet, "kernel.domainname", "x", true},
		{"hostname", own, "kernel.hostname", "x", true},
		{"ipc on host ipc", hostIPC, "kernel.sem", "1 2 3 4", true},
		{"ipc-like prefix not namespaced", own, "kernel.shm_hostile", "1", true},
		{"host-wide", own, "kernel.panic", "1", true},
		{"traversal", own, "net..ipv4", "1", true},
		{"slash", own, "net.ipv4/../../kernel/panic", "1", true},
		{"empty", own, "", "1", true},
		{"trailing dot", own, "net.", "1", true},
		{"NUL in name", own, "net.ipv4.ip_forward\x00", "1", true},
		{"space in name", own, "net.ipv4 ip_forward", "1", true},
		{"newline in value", own, "net.ipv4.ip_forward", "1\n0", true},
		{"NUL in value", own, "net.ipv4.ip_forward", "1\x00", true},
		{"huge value", own, "net.ipv4.ip_forward", strings.Repeat("1", maxSysctlValue+1), true},
		{"huge name", own, "net." + strings.Repeat("a", 300), "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Sysctls = map[string]string{tt.key: tt.value}
			err := ValidateSysctls(&spec)
			if !tt.reject {
				if err != nil {
					t.Fatalf("ValidateSysctls: %v", err)
				}
				return
			}
			var fe *errdefs.FieldError
			if !errors.As(err, &fe) || fe.Field != "linux.sysctls["+tt.key+"]" {
				t.Fatalf("ValidateSysctls: %v, want a field error naming linux.sysctls[%s]", err, tt.key)
			}
		})
	}
}

// A sysctl the kernel does not have, or a value it refuses, is the
// request's fault: InvalidArgument naming it, and nothing left.
func TestPodSysctlTheKernelRefusesIsInvalid(t *testing.T) {
	e := newEnv(t)
	for _, sysctls := range []map[string]string{
		{"net.ipv4.no_such_knob": "1"},
		{"net.ipv4.ip_forward": "not-a-number"},
	} {
		spec := podSpec("bad-sysctl")
		spec.Sysctls = sysctls
		_, err := e.m.Run(context.Background(), spec)
		var fe *errdefs.FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "linux.sysctls[") {
			t.Errorf("sysctls %v: %v, want an invalid linux.sysctls field", sysctls, err)
		}
	}
	assertNothingLeft(t, e)
}

package oci

import (
	"context"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// confinementProbe prints the process's AppArmor label and tries what
// crisp's default profile forbids: a write to a kernel setting the
// container's UTS namespace owns, and a mount.
const confinementProbe = `cat /proc/self/attr/current
(echo crisp-test > /proc/sys/kernel/domainname) 2>/dev/null && echo domainname written || echo domainname denied
mkdir -p /tmp/m; (mount -t tmpfs none /tmp/m) 2>/dev/null && echo mounted || echo mount denied`

// probeSpec is a root container with every capability and a writable
// /proc/sys, so that only AppArmor can refuse what the probe tries.
func probeSpec(t *testing.T, profile string) *specs.Spec {
	spec := testSpec(t, "sh", "-c", confinementProbe)
	spec.Linux.ReadonlyPaths, spec.Linux.MaskedPaths = nil, nil
	spec.Process.ApparmorProfile = profile
	return spec
}

// TestAppArmorProfileConfinesProcessAndExec runs where AppArmor is
// enabled (the qemu guest): crisp's default profile, applied at exec,
// names the process and refuses the write and the mount that the same
// container does unconfined; a process exec'd with it, as another user
// and with no_new_privs, is confined too.
func TestAppArmorProfileConfinesProcessAndExec(t *testing.T) {
	host := apparmor.NewHost()
	if !host.Enabled() {
		t.Skip("needs a kernel that enforces AppArmor (the qemu guest)")
	}
	if err := host.LoadDefault(context.Background()); err != nil {
		t.Fatalf("load crisp's default profile (needs apparmor_parser): %v", err)
	}
	rt := newTestRuntime(t)
	out, st := runToExit(t, rt, probeSpec(t, ""))
	if want := "unconfined\ndomainname written\nmounted\n"; st.Code != 0 || out != want {
		t.Fatalf("unconfined: exit %+v, output %q, want %q", st, out, want)
	}
	out, st = runToExit(t, rt, probeSpec(t, apparmor.DefaultProfile))
	if want := "crisp-default (enforce)\ndomainname denied\nmount denied\n"; st.Code != 0 || out != want {
		t.Errorf("confined: exit %+v, output %q, want %q", st, out, want)
	}

	startContainer(t, rt, "confined", probeSpecSleeping(t))
	o := newOutputPipe(t)
	p, err := rt.Exec(context.Background(), "confined", &specs.Process{
		Args: []string{"sh", "-c", confinementProbe}, Env: []string{"PATH=/bin"}, Cwd: "/",
		// Not root, and no_new_privs: the switch at exec still happens.
		User: specs.User{UID: 33, GID: 33}, NoNewPrivileges: true,
		ApparmorProfile: apparmor.DefaultProfile,
	}, ExecOptions{Stdout: o.w, Stderr: o.w})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := o.text(t), "crisp-default (enforce)\ndomainname denied\nmount denied\n"; got != want {
		t.Errorf("exec'd process: output %q, want %q", got, want)
	}
}

func probeSpecSleeping(t *testing.T) *specs.Spec {
	spec := probeSpec(t, apparmor.DefaultProfile)
	spec.Process.Args = []string{"sleep", "100"}
	return spec
}

// TestAppArmorProfileNotLoadedFailsCreate: a profile the kernel does not
// have fails the container rather than running it unconfined.
func TestAppArmorProfileNotLoadedFailsCreate(t *testing.T) {
	if !apparmor.NewHost().Enabled() {
		t.Skip("needs a kernel that enforces AppArmor (the qemu guest)")
	}
	rt := newTestRuntime(t)
	err := rt.Create(context.Background(), "noprofile", writeBundle(t, probeSpec(t, "crisp-test-not-loaded")), CreateOptions{})
	if err == nil {
		_ = rt.Delete(context.Background(), "noprofile", true)
		t.Fatal("create with a profile that is not loaded succeeded")
	}
	if !strings.Contains(err.Error(), "process.apparmorProfile") {
		t.Errorf("error %v does not name process.apparmorProfile", err)
	}
}

// TestAppArmorProfileRefusedWithoutAppArmor: where the kernel does not
// enforce AppArmor, a spec that names a profile is refused, naming the
// field, instead of running without it.
func TestAppArmorProfileRefusedWithoutAppArmor(t *testing.T) {
	if apparmor.NewHost().Enabled() {
		t.Skip("needs a kernel without AppArmor (the build host)")
	}
	rt := newTestRuntime(t)
	err := rt.Create(context.Background(), "noapparmor", writeBundle(t, probeSpec(t, apparmor.DefaultProfile)), CreateOptions{})
	var fe *errdefs.FieldError
	if !errors.As(err, &fe) || fe.Field != "process.apparmorProfile" {
		_ = rt.Delete(context.Background(), "noapparmor", true)
		t.Errorf("create with a profile and no AppArmor: %v, want a field error naming process.apparmorProfile", err)
	}
}

package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The defence against CVE-2019-5736 on its own: a handle from
// openReadOnlyExe or copySealedExe cannot be opened for writing, even by
// root, once nothing executes the file (the kernel checks ETXTBSY first).
func TestSealedExeRefusesWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	src := filepath.Join(t.TempDir(), "binary")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ro, err := openReadOnlyExe(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", ro.Fd()), os.O_WRONLY, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("read-only mount handle opened for writing: %v, want EROFS", err)
	}
	sealed, err := copySealedExe(src)
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", sealed.Fd()), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
	}
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("write to the sealed copy: %v, want EPERM", err)
	}
	// The source itself stays writable: the defence is the handle's.
	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("source not writable: %v", err)
	}
	f.Close()
}

// A container process must not be able to write the crisp binary through
// /proc/<pid>/exe of a crisp process (CVE-2019-5736): the binary it reaches
// is on a read-only mount.
func TestCrispBinaryIsReadOnlyFromContainers(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	// Without a pid namespace the container sees its monitor; with all
	// capabilities it may open its /proc entries. Writing must fail: with
	// ETXTBSY while crisp runs anywhere, with EROFS always.
	spec := testSpec(t, "sh", "-c", `
		n=0
		for p in /proc/[0-9]*; do
			[ "$(cat $p/comm 2>/dev/null)" = crisp-monitor ] || continue
			n=$((n+1))
			(echo pwned >> $p/exe) 2>/dev/null && echo "$p/exe writable"
		done
		echo tried=$((n>0))`)
	var nss []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != specs.PIDNamespace {
			nss = append(nss, ns)
		}
	}
	spec.Linux.Namespaces = nss
	spec.Mounts = spec.Mounts[1:] // no new proc without a pid namespace
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/proc", Type: "bind", Source: "/proc", Options: []string{"rbind"}})
	spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
	out, st := runToExit(t, rt, spec)
	if st.Code != 0 || out != "tried=1\n" {
		t.Errorf("exit %+v, output %q, want tried=1 and no writable binary", st, out)
	}

	// What the init and its monitor execute is on a read-only mount.
	createContainer(t, rt, "exe", testSpec(t, "true"), nil)
	s, err := rt.State(ctx, "exe")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rt.load("exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{s.Pid, rec.Monitor.Pid} {
		var fs unix.Statfs_t
		if err := unix.Statfs(fmt.Sprintf("/proc/%d/exe", pid), &fs); err != nil {
			t.Fatal(err)
		}
		if fs.Flags&unix.ST_RDONLY == 0 {
			t.Errorf("/proc/%d/exe is on a writable mount (flags %#x)", pid, fs.Flags)
		}
	}
}

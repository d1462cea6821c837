package cgroups

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestKernelDeviceRulesSystemdScope checks that device rules applied before
// systemd starts a container's scope (as the executor does) stay enforced
// once the scope runs and after a daemon-reload.
func TestKernelDeviceRulesSystemdScope(t *testing.T) {
	h := realHierarchy(t, MissingError)
	if fi, err := os.Lstat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("needs systemd as PID 1 (the qemu guest)")
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	parent := fmt.Sprintf("kubepods-crisptestdev%d.slice", os.Getpid())
	systemdTestPod(ctx, t, h, parent)
	ctr := systemdTestContainer(ctx, t, h, parent, "c1")
	if err := ctr.Apply(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
	}}); err != nil {
		t.Fatalf("Apply devices: %v", err)
	}
	helper := startHelper(t, ctr, "sleep")
	if err := ctr.AddProcess(helper.Process.Pid); err != nil {
		t.Fatalf("AddProcess (starts the scope): %v", err)
	}
	check := func(when string) {
		t.Helper()
		got := openInCgroup(t, ctr, "/dev/null", "/dev/zero")
		if got["/dev/null"] != "EPERM" || got["/dev/zero"] != "ok" {
			t.Errorf("%s: /dev/null %q (want EPERM), /dev/zero %q (want ok)", when, got["/dev/null"], got["/dev/zero"])
		}
	}
	check("scope started")
	conn, err := h.systemdConn().get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.ReloadContext(ctx); err != nil {
		t.Fatalf("daemon-reload: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	check("after daemon-reload")
}

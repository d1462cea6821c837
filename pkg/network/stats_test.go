package network

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A container that may make interfaces in its pod's network namespace
// makes the pod's stats no longer than MaxInterfaces, and its default
// interface is still reported.
func TestInterfaceStatsBounded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip:", err)
	}
	name := fmt.Sprintf("crisp-stats-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	// Names that sort before the default interface's, made before it.
	for i := range MaxInterfaces + 8 {
		ip("-n", name, "link", "add", fmt.Sprintf("a%02d", i), "type", "bridge")
	}
	ip("-n", name, "link", "add", DefaultInterface, "type", "veth", "peer", "name", "peer0")
	got, err := InterfaceStatsIn(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxInterfaces {
		t.Errorf("%d interfaces reported, want %d", len(got), MaxInterfaces)
	}
	if len(got) == 0 || got[0].Name != DefaultInterface {
		t.Fatalf("interfaces %v, want %s first", got, DefaultInterface)
	}
	for i, s := range got[1:] {
		if want := fmt.Sprintf("a%02d", i); s.Name != want {
			t.Errorf("interface %d is %s, want %s (by name)", i+1, s.Name, want)
		}
	}
}

package network

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// A container that may make interfaces in its pod's network namespace
// makes the pod's stats no longer than MaxInterfaces, and its default
// interface is still reported.
func TestInterfaceStatsBounded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	name := fmt.Sprintf("crisp-stats-%d", os.Getpid())
	h := namedNetns(t, name)
	// Names that sort before the default interface's, made before it.
	for i := range MaxInterfaces + 8 {
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("a%02d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: DefaultInterface}, PeerName: "peer0"}); err != nil {
		t.Fatal(err)
	}
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

// namedNetns makes a network namespace pinned at /run/netns/name, removed
// when the test ends, and returns a netlink handle inside it.
func namedNetns(t *testing.T, name string) *netlink.Handle {
	t.Helper()
	// NewNamed moves the calling thread into the new namespace. The thread
	// is let go only once it is back in its own: on any failure before
	// that, the test's goroutine ends locked to it and the thread with it.
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	t.Cleanup(func() { _ = netns.DeleteNamed(name) })
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	runtime.UnlockOSThread()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

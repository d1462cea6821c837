// Command conformance-registry serves the images Kubernetes' [sig-node]
// [Conformance] tests pull, built here, to the test cluster's nodes, which
// reach no public registry. Each image is stored under "<upstream registry
// host>/<path>" (registry.k8s.io/e2e-test-images/busybox:1.37.0-2, ...);
// the nodes' registries.conf maps registry.k8s.io to that namespace, so
// crisp pulls the names the tests use, through its real pull path.
//
// The images stand in for the upstream ones (docs/cluster.md lists them):
// Debian's static busybox with every applet, in /bin as upstream, and as
// /bin/sh a busybox built as upstream's (Debian's busybox sh drops
// environment variables whose names are not shell identifiers, such as
// "data-1", which the tests pass to "sh -c env" and upstream's keeps; other
// tests compare busybox sh's error messages; hack/cluster/busybox.sh builds
// it); agnhost built from k8s.io/kubernetes at the release of the tests,
// with a curl on busybox wget; pause built from its C source of that
// release; a busybox web server named nginx; the set-user-ID program of
// the privilege escalation test; and the files the image volume test reads.
//
// It listens on -addr, which must be a loopback address or one inside a
// network namespace other than the host's (hack/cluster/conformance.sh runs
// it in the cluster's), prints "ready ADDR" and serves until interrupted.
//
// usage: conformance-registry -addr HOST:PORT -agnhost FILE -pause FILE -sh FILE -nonewprivs FILE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

const usage = "usage: conformance-registry -addr HOST:PORT -agnhost FILE -pause FILE -sh FILE -nonewprivs FILE"

// binaries are the files of the programs the images hold.
type binaries struct {
	agnhost, pause, sh, nonewprivs string
}

func main() {
	addr := flag.String("addr", "", "address to listen on: loopback, or in a network namespace of its own")
	agnhost := flag.String("agnhost", "", "the agnhost binary (k8s.io/kubernetes/test/images/agnhost, static)")
	pause := flag.String("pause", "", "the pause binary (k8s.io/kubernetes/build/pause/linux/pause.c, static)")
	sh := flag.String("sh", "", "the images' /bin/sh, static, passing every environment variable on (a busybox built by hack/cluster/busybox.sh)")
	nonewprivs := flag.String("nonewprivs", "", "the nonewprivs program (./test/critest/nonewprivs, static)")
	flag.Parse()
	if *addr == "" || *agnhost == "" || *pause == "" || *sh == "" || *nonewprivs == "" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(*addr, binaries{agnhost: *agnhost, pause: *pause, sh: *sh, nonewprivs: *nonewprivs}); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-registry:", err)
		os.Exit(1)
	}
}

func run(addr string, files binaries) error {
	if err := privateAddress(addr); err != nil {
		return err
	}
	var b contents
	for _, f := range []struct {
		path string
		body *[]byte
	}{{files.agnhost, &b.agnhost}, {files.pause, &b.pause}, {files.sh, &b.sh}, {files.nonewprivs, &b.nonewprivs}} {
		body, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		*f.body = body
	}
	imgs, err := images(runtime.GOARCH, b)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	reg := testregistry.Serve(lis, testregistry.Options{})
	defer reg.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := reg.PushAll(ctx, os.Stdout, imgs); err != nil {
		return err
	}
	fmt.Println("ready", reg.Addr())
	<-ctx.Done()
	return nil
}

// privateAddress refuses an address that is neither loopback nor a
// private one (RFC 1918) in a network namespace other than the host's, that
// of pid 1 where it can be read: the registry must never be reachable from
// the host's network.
func privateAddress(addr string) error {
	return privateAddressIn(addr, "/proc/self/ns/net", "/proc/1/ns/net")
}

// privateAddressIn is privateAddress with the namespace files of this
// process and of the host named.
func privateAddressIn(addr, ownNS, hostNS string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("-addr %q: not an IP address", addr)
	}
	if ip.IsLoopback() {
		return nil
	}
	if !ip.IsPrivate() {
		return fmt.Errorf("-addr %q: neither a loopback nor a private address", addr)
	}
	var own, hosts unix.Stat_t
	if err := unix.Stat(ownNS, &own); err != nil {
		return err
	}
	if err := unix.Stat(hostNS, &hosts); err == nil && own.Ino == hosts.Ino && own.Dev == hosts.Dev {
		return errors.New("-addr " + addr + ": not a loopback address, and this is the host's network namespace (run it in a namespace of its own)")
	}
	return nil
}

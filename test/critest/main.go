// Command critest-registry serves, on a loopback address, every image that
// critest (cri-tools' CRI validation suite) pulls, built from the host's
// busybox, so that critest runs without the internet. Each image is stored
// under "<upstream registry host>/<path>"; hack/critest.sh points
// registries.conf's prefixes at those namespaces. It prints "ready ADDR"
// and serves until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	nonewprivs := flag.String("nonewprivs", "", "the nonewprivs program (./test/critest/nonewprivs, built static), for the no_new_privs specs' image")
	flag.Parse()
	if err := run(*addr, *nonewprivs); err != nil {
		fmt.Fprintln(os.Stderr, "critest-registry:", err)
		os.Exit(1)
	}
}

func run(addr, nonewprivs string) error {
	if nonewprivs == "" {
		return fmt.Errorf("-nonewprivs is required")
	}
	nnp, err := os.ReadFile(nonewprivs)
	if err != nil {
		return err
	}
	imgs, err := images(runtime.GOARCH, nnp)
	if err != nil {
		return err
	}
	reg, err := testregistry.StartAt(addr, testregistry.Options{})
	if err != nil {
		return err
	}
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

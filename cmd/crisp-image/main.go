// Command crisp-image copies images into crisp's storage for the daemon and
// `crisp images load`: a pull from a registry or the images of an archive,
// one per process. It reads its request as JSON on standard input and
// answers on standard output (pkg/image.Helper), logging to standard
// error. It is not meant to be run by hand.
//
// It holds the registry client, the signature policy and the compression
// code (pkg/image/transfer), which the daemon, running all the time, does
// not link.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.podman.io/storage/pkg/reexec"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/image/transfer"
	"github.com/crisp-runtime/crisp/pkg/version"
)

func main() {
	// go.podman.io/storage re-executes this binary to apply layers.
	if reexec.Init() {
		return
	}
	if len(os.Args) > 1 {
		if os.Args[1] == "--version" {
			fmt.Println("crisp-image", version.Version())
			return
		}
		fmt.Fprintln(os.Stderr, "crisp-image takes no arguments: crisp runs it with its request on standard input")
		os.Exit(2)
	}
	// SIGTERM is how a caller that gave up asks it to stop; the copy then
	// removes what it staged before it exits.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	ok := transfer.ServeHelper(ctx, os.Stdin, os.Stdout)
	stop()
	klog.Flush()
	if !ok {
		os.Exit(1)
	}
}

// Command busybox-archive writes the busybox test image of
// pkg/image/testregistry (Debian's static /bin/busybox and its applets) as a
// docker-archive, for `crisp images load` on a node that reaches no registry.
// The kubelet end-to-end test (test/e2e/kubelet) runs its pods from it.
//
// usage: busybox-archive -ref REPO:TAG FILE
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func main() {
	ref := flag.String("ref", "crisp.test/busybox:e2e", "reference the image is tagged with in the archive")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: busybox-archive [-ref REPO:TAG] FILE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(flag.Arg(0), *ref); err != nil {
		fmt.Fprintln(os.Stderr, "busybox-archive:", err)
		os.Exit(1)
	}
}

func write(path, ref string) error {
	img, err := testregistry.Busybox(runtime.GOARCH)
	if err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	if err := testregistry.WriteDockerArchive(path, ref, img, false); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

package image_test

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.podman.io/storage/pkg/reexec"

	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/image/transfer"
)

// The tests of this package copy images in with pkg/image/transfer. Run as
// crisp-image (helper_test.go places this binary under that name), the
// test binary is crisp-image instead: it serves one request and exits
// before any test runs.
func init() {
	image.SetTestCopier(transfer.Copier{})
	if filepath.Base(os.Args[0]) != image.HelperName {
		return
	}
	// go.podman.io/storage refuses to re-execute a binary that did not
	// call this first; it is not such a re-execution (that is TestMain's).
	reexec.Init()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	ok := transfer.ServeHelper(ctx, os.Stdin, os.Stdout)
	stop()
	if !ok {
		os.Exit(1)
	}
	os.Exit(0)
}

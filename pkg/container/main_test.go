package container

import (
	"os"
	"testing"

	"go.podman.io/storage/pkg/reexec"
)

// The tests run real containers. The test binary serves as the crisp
// binary: the executor and the pod reaper re-execute it, and its C
// constructor (linked in through pkg/oci/nsenter) takes over then;
// go.podman.io/storage re-executes it to apply layers.
func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

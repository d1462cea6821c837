package ocicli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// inProcessEnv keeps `crisp oci` in crisp: crisp's hand-over to crisp-oci
// (cmd/crisp/handover.c) skips it.
const inProcessEnv = "CRISP_OCI_IN_PROCESS"

// handBackToCrisp serves checkpoint and restore in a program without
// CRIU's protocol (crisp-oci, which links no protobuf so that it starts
// fast): it executes the crisp installed beside it, which has the
// protocol, with `oci` and this process's arguments, and the container
// state, flags and stdio unchanged. It returns only on failure.
func (o *ociOptions) handBackToCrisp() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("checkpoint and restore are served by crisp: find this program: %w", err)
	}
	if o.childTimerSlack != 0 {
		// A process keeps the timer slack of the thread that executes
		// the new program: crisp gets the caller's.
		runtime.LockOSThread()
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(o.childTimerSlack.Nanoseconds()), 0, 0, 0); err != nil {
			return fmt.Errorf("checkpoint and restore are served by crisp: set its timer slack: %w", err)
		}
	}
	return handBack(exe, os.Args[1:], os.Environ())
}

// handBack executes crisp beside exe with args, as `crisp oci …`.
func handBack(exe string, args, env []string) error {
	crisp := filepath.Join(filepath.Dir(exe), "crisp")
	if os.Getenv(inProcessEnv) != "" {
		// crisp itself sent the command here: it has no protocol either.
		return fmt.Errorf("checkpoint and restore need CRIU's protocol, which neither %s nor %s links", exe, crisp)
	}
	// crisp handed `crisp oci …` over with its arguments unchanged.
	if len(args) == 0 || args[0] != "oci" {
		args = append([]string{"oci"}, args...)
	}
	argv := append([]string{crisp}, args...)
	env = append(env, inProcessEnv+"=1")
	err := unix.Exec(crisp, argv, env)
	return fmt.Errorf("checkpoint and restore are served by crisp, installed beside %s: %w", exe, err)
}

package ocicli

import (
	"fmt"
	"os"
	"path/filepath"

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
func handBackToCrisp() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("checkpoint and restore are served by crisp: find this program: %w", err)
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

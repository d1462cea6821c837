package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// The tests run in a network namespace of their own, so the bridge, veths
// and addresses CNI makes never touch the host's network. The test binary
// also serves as the crisp binary the reaper is started from (its C
// constructor, linked in through pkg/oci/nsenter, becomes the reaper).
func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "sandbox tests need root: skipping")
		os.Exit(0)
	}
	if os.Getenv("CRISP_TEST_NETNS") == "" {
		cmd := exec.Command("unshare", append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), "CRISP_TEST_NETNS=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			fmt.Fprintln(os.Stderr, "re-run tests in a private network namespace:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bring up loopback: %v: %s\n", err, out)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

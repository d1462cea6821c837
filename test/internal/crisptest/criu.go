package crisptest

import (
	"os/exec"
	"testing"
)

// RequireCRIU skips a test where CRIU cannot work: without Debian's criu,
// or on a kernel `criu check` refuses (the qemu guest of hack/vm passes).
func RequireCRIU(t testing.TB) {
	t.Helper()
	path, err := exec.LookPath("criu")
	if err != nil {
		t.Skip("needs criu (Debian's criu package); hack/vm's qemu guest has it")
	}
	if out, err := exec.Command(path, "check").CombinedOutput(); err != nil {
		t.Skipf("needs a kernel that `criu check` accepts (the qemu guest: hack/vm/vm-test.sh go-test --qemu): %v: %.200s", err, out)
	}
}

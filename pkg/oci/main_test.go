package oci

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as the crisp binary: the executor
// re-executes /proc/self/exe to enter containers.
func TestMain(m *testing.M) {
	if IsInit() {
		Init()
	}
	os.Exit(m.Run())
}

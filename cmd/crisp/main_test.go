package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for crisp: re-executed with
// CRISP_TEST_MAIN=1 it runs main.
func TestMain(m *testing.M) {
	if os.Getenv("CRISP_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

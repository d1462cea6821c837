// Package apparmor owns crisp's use of the host's AppArmor: whether the
// kernel enforces it, which profiles are loaded, and crisp's default
// profile for containers, which it writes and loads with apparmor_parser.
// The executor (pkg/oci) applies a profile to a process; this package
// never confines anything itself.
package apparmor

// Package crisptest is the harness the host test suites share: a crisp
// daemon with private root, state, socket and CNI configuration, a network
// namespace that outlives daemon restarts, a bridge pod network, and the
// busybox image loaded offline into a daemon's storage.
package crisptest

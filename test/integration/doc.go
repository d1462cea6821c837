// Package integration holds tests that run the real crisp binary on this host
// as root and drive it the way kubelet and crictl do: over CRI on its socket.
package integration

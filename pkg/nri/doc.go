// Package nri owns crisp's side of the Node Resource Interface (NRI): the
// socket NRI plugins connect to and the pre-installed plugins crisp starts
// (both through github.com/containerd/nri's adaptation, as containerd and
// CRI-O use it), the translation of crisp's pods and containers to the NRI
// API, the synchronisation of a plugin that connects with every pod and
// container there is, and the application of what plugins ask for: a
// container's OCI spec adjusted before it is made, resources of running
// containers updated. Plugins are trusted no more than CRI requests: every
// adjustment is bounded and checked, and one crisp cannot apply fails the
// container rather than being dropped.
//
// pkg/sandbox and pkg/container call it through the small interfaces they
// define (sandbox.NRI, container.NRI); pkg/daemon wires it.
package nri

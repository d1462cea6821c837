// Package streaming serves the CRI calls whose data does not fit a gRPC
// reply: Exec, Attach and PortForward. It runs kubelet's own
// streaming server, k8s.io/cri-streaming: the gRPC call registers the
// request and answers with a one-use URL on this server, which kubelet or
// crictl then opens with SPDY or WebSocket to carry the session's streams.
// The sessions run on pkg/container (Exec, and Attach to a container's
// monitor) and pkg/sandbox (PortForward).
//
// The server speaks plain HTTP: its only guard is the token in each URL,
// which expires unused after a minute. It listens on loopback by default;
// kubelet on the same node reaches it there. TLS is not supported yet.
package streaming

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/containernetworking/plugins/pkg/ns"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// loopbacks are the addresses a forwarded port is dialled on, in order:
// a pod's server may listen on either family's loopback only.
var loopbacks = [...]string{"127.0.0.1", "::1"}

// PortForward connects stream to TCP port on the pod's localhost and copies
// between the two until the pod's side closes, either side fails or ctx is
// done. When the client finishes sending, the pod's side sees end of file
// and the reply still reaches the client. A host-network pod's localhost is
// the host's. PortForward closes stream before it returns.
func (m *Manager) PortForward(ctx context.Context, id string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port <= 0 || port > 65535 {
		return errdefs.InvalidField("port", fmt.Sprintf("%d is not a TCP port (1-65535)", port))
	}
	sb, err := m.index.Get(id)
	if err != nil {
		return err
	}
	if sb.State != StateReady {
		return fmt.Errorf("pod sandbox %s is %s, not ready: %w", sb.ID, sb.State, errdefs.ErrFailedPrecondition)
	}
	conn, err := dialLoopback(ctx, sb.Namespaces[NamespaceNet], port)
	if err != nil {
		return fmt.Errorf("port forward to pod sandbox %s: %w", sb.ID, err)
	}
	klog.V(4).InfoS("Forwarding port", "pod", sb.ID, "port", port, "remote", conn.RemoteAddr())
	return splice(ctx, conn, stream)
}

// dialLoopback connects to port on the loopback of the network namespace
// pinned at netns, or the daemon's own when netns is empty. The socket is
// made on a thread inside the namespace and stays in it; ns.Do returns the
// thread to the daemon's namespace, or retires it if it cannot.
func dialLoopback(ctx context.Context, netns string, port int32) (*net.TCPConn, error) {
	var conn *net.TCPConn
	dial := func(ns.NetNS) error {
		// Each address is dialled in turn on this goroutine: a dual-stack
		// race, or a name to resolve, would make the socket on another
		// thread, outside the namespace.
		var d net.Dialer
		var errs []error
		for _, ip := range loopbacks {
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
			if err == nil {
				conn = c.(*net.TCPConn)
				return nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return errors.Join(errs...)
	}
	if netns == "" {
		return conn, dial(nil)
	}
	if err := ns.WithNetNSPath(netns, dial); err != nil {
		return nil, err
	}
	return conn, nil
}

// splice copies between the pod's conn and the client's stream. The client
// ending its side half-closes conn, so the pod's server sees end of file
// and can still answer; the pod's side ending, an error either way or ctx
// ends the forward: conn is closed and stream half-closed, so the client
// sees end of file. splice returns once the client has ended its side too
// (a stream's Close only ends its writing), so no copy outlives it.
func splice(ctx context.Context, conn *net.TCPConn, stream io.ReadWriteCloser) error {
	toClient := make(chan error, 1)
	toPod := make(chan error, 1)
	var copies sync.WaitGroup
	copies.Add(2)
	go func() {
		defer copies.Done()
		_, err := io.Copy(stream, conn)
		toClient <- err
	}()
	go func() {
		defer copies.Done()
		_, err := io.Copy(conn, stream)
		if err == nil {
			err = conn.CloseWrite()
		}
		toPod <- err
	}()

	var err error
	for done := false; !done; {
		select {
		case err = <-toClient:
			done = true
		case err = <-toPod:
			// A clean end of the client's data waits for the pod's reply.
			done = err != nil
		case <-ctx.Done():
			err = context.Cause(ctx)
			done = true
		}
	}
	conn.Close()
	stream.Close()
	copies.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("port forward: %w", err)
	}
	return nil
}

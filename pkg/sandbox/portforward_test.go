package sandbox

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// testPort is where the test servers listen, in the pod and on the host
// alike, so a forward that dials the wrong namespace reaches the wrong one.
const testPort = 18080

// serveOnce answers each connection to ln with name and what it read up to
// end of file, then closes it.
func serveOnce(t *testing.T, ln net.Listener, name string) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, _ := io.ReadAll(c)
				io.WriteString(c, name+" got "+string(req))
			}()
		}
	}()
}

// listenIn listens on addr inside the network namespace pinned at netns; the
// socket stays there whichever thread accepts on it.
func listenIn(t *testing.T, netns, addr string) (net.Listener, error) {
	t.Helper()
	var ln net.Listener
	err := ns.WithNetNSPath(netns, func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// pipeStream is the client's stream as the streaming server hands it over:
// Close ends only the writing half.
type pipeStream struct {
	io.Reader
	w *io.PipeWriter
}

func (s pipeStream) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s pipeStream) Close() error                { return s.w.Close() }

// forward sends req through a port forward to port of pod id, ends the
// client's side and returns the reply and the forward's error.
func forward(t *testing.T, m *Manager, id string, port int32, req string) (string, error) {
	t.Helper()
	toPodR, toPodW := io.Pipe()
	toClientR, toClientW := io.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- m.PortForward(context.Background(), id, port, pipeStream{toPodR, toClientW}) }()
	go func() {
		io.WriteString(toPodW, req)
		toPodW.Close()
	}()
	reply, _ := io.ReadAll(toClientR)
	return string(reply), <-errc
}

func TestPortForwardReachesThePodsLoopback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb, err := e.m.Run(ctx, podSpec("forward"))
	if err != nil {
		t.Fatal(err)
	}
	netns := sb.Namespaces[NamespaceNet]
	if netns == "" {
		t.Fatal("pod has no network namespace of its own")
	}
	// The host (the tests' own network namespace) serves the same port: a
	// forward must not reach it.
	hostLn, err := net.Listen("tcp", loopback("127.0.0.1", testPort))
	if err != nil {
		t.Fatal(err)
	}
	serveOnce(t, hostLn, "host")
	podLn, err := listenIn(t, netns, loopback("127.0.0.1", testPort))
	if err != nil {
		t.Fatal(err)
	}
	serveOnce(t, podLn, "pod")

	reply, err := forward(t, e.m, sb.ID, testPort, "ping")
	if err != nil || reply != "pod got ping" {
		t.Errorf("forward to the pod = %q, %v; want %q", reply, err, "pod got ping")
	}
	// A prefix of the id names the pod too, as with every pod call.
	if reply, err := forward(t, e.m, sb.ID[:12], testPort, "again"); err != nil || reply != "pod got again" {
		t.Errorf("forward by id prefix = %q, %v", reply, err)
	}

	t.Run("IPv6 loopback", func(t *testing.T) {
		ln, err := listenIn(t, netns, loopback("::1", testPort+1))
		if err != nil {
			t.Skipf("needs IPv6 on the pod's loopback: %v", err)
		}
		serveOnce(t, ln, "pod6")
		if reply, err := forward(t, e.m, sb.ID, testPort+1, "ping"); err != nil || reply != "pod6 got ping" {
			t.Errorf("forward to a server on ::1 = %q, %v", reply, err)
		}
	})

	t.Run("nothing listening", func(t *testing.T) {
		if _, err := forward(t, e.m, sb.ID, testPort+2, "ping"); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("forward to a closed port: %v, want connection refused", err)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, port := range []int32{0, -1, 65536} {
			if _, err := forward(t, e.m, sb.ID, port, ""); !isFieldError(err, "port") {
				t.Errorf("forward to port %d: %v, want an invalid port", port, err)
			}
		}
		if _, err := forward(t, e.m, "0123456789abcdef", testPort, ""); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("forward to an unknown pod: %v, want not found", err)
		}
	})

	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := forward(t, e.m, sb.ID, testPort, "ping"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("forward to a stopped pod: %v, want failed precondition", err)
	}
}

func TestPortForwardToHostNetworkPod(t *testing.T) {
	e := newEnv(t)
	spec := podSpec("forward-host")
	spec.NetworkMode = ModeNode
	sb, err := e.m.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", loopback("127.0.0.1", testPort))
	if err != nil {
		t.Fatal(err)
	}
	serveOnce(t, ln, "host")
	if reply, err := forward(t, e.m, sb.ID, testPort, "ping"); err != nil || reply != "host got ping" {
		t.Errorf("forward to a host-network pod = %q, %v; want %q", reply, err, "host got ping")
	}
}

// A forward ends when its context does, even while both sides are open.
func TestPortForwardEndsWithItsContext(t *testing.T) {
	e := newEnv(t)
	sb, err := e.m.Run(context.Background(), podSpec("forward-cancel"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listenIn(t, sb.Namespaces[NamespaceNet], loopback("127.0.0.1", testPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithCancelCause(context.Background())
	toPodR, toPodW := io.Pipe()
	toClientR, toClientW := io.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- e.m.PortForward(ctx, sb.ID, testPort, pipeStream{toPodR, toClientW}) }()
	c := <-accepted
	defer c.Close()
	// Data through the forward shows it is copying, past its dial.
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if got := make([]byte, 5); !readFull(toClientR, got) || string(got) != "hello" {
		t.Fatalf("client read %q, want hello", got)
	}
	stop := errors.New("client went away")
	cancel(stop)
	// The client's side ends once it has seen the end of the pod's.
	if reply, err := io.ReadAll(toClientR); err != nil || len(reply) != 0 {
		t.Errorf("client read %q, %v after the cancel; want end of file", reply, err)
	}
	toPodW.Close()
	if err := <-errc; !errors.Is(err, stop) {
		t.Errorf("cancelled forward: %v, want its cause", err)
	}
	// The pod's connection was closed.
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("pod side read %d, %v after the cancel; want end of file", n, err)
	}
}

func loopback(ip string, port int32) string {
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}

func readFull(r io.Reader, p []byte) bool {
	_, err := io.ReadFull(r, p)
	return err == nil
}

func isFieldError(err error, field string) bool {
	var fe *errdefs.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

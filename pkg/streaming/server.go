package streaming

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	criserver "k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/klog/v2"
)

// readHeaderTimeout bounds how long a connection may take to send its
// request line and headers; a session's own streams have no such bound.
const readHeaderTimeout = 30 * time.Second

// errServerClosed ends the sessions still running when the server closes.
var errServerClosed = errors.New("streaming server closed")

// Options configure a Server.
type Options struct {
	// Address is the host:port to listen on; port 0 picks a free one.
	Address string
	// IdleTimeout closes a session that has carried nothing for this long.
	IdleTimeout time.Duration
	// StreamCreationTimeout is how long a client has to open a session's
	// streams once it has connected.
	StreamCreationTimeout time.Duration
	Containers            Containers
	Pods                  Pods
}

// Server serves exec and port-forward sessions over HTTP and hands out the
// URLs the CRI calls answer with.
type Server struct {
	streams criserver.Server
	runtime *sessions
	http    *http.Server
	ln      net.Listener
	url     *url.URL
	served  chan error

	// ctx ends every running session when the server closes.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{} // every open connection
}

// Start listens on opts.Address and serves sessions until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Containers == nil || opts.Pods == nil {
		return nil, errors.New("streaming server: containers and pods are required")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Address)
	if err != nil {
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	s := &Server{
		ln:     ln,
		url:    &url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/"},
		served: make(chan error, 1),
		conns:  map[*trackedConn]struct{}{},
	}
	// The sessions outlive the call that started the server.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	cfg := criserver.DefaultConfig
	cfg.Addr = ln.Addr().String()
	// The URLs name the address actually bound, so that port 0 works and
	// no URL is handed out before the server can answer it.
	cfg.BaseURL = s.url
	cfg.StreamIdleTimeout = opts.IdleTimeout
	cfg.StreamCreationTimeout = opts.StreamCreationTimeout
	s.runtime = &sessions{containers: opts.Containers, pods: opts.Pods, ctx: s.ctx}
	s.streams, err = criserver.NewServer(cfg, s.runtime)
	if err != nil {
		ln.Close()
		s.cancel()
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	s.http = &http.Server{
		Handler:           s.streams,
		ReadHeaderTimeout: readHeaderTimeout,
	}
	go func() { s.served <- s.http.Serve(conns{ln, s}) }()
	return s, nil
}

// conns wraps every accepted connection so that Close can end it:
// http.Server lets go of a connection once a session upgrades it.
type conns struct {
	net.Listener
	s *Server
}

func (l conns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.conns[tc] = struct{}{}
	return tc, nil
}

// trackedConn leaves the server's set when it is closed, by the streaming
// library at the end of a session or by the HTTP server.
type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// URL is the server's base URL, http://host:port/.
func (s *Server) URL() string { return s.url.String() }

// GetExec registers an exec request and returns the URL that runs it.
func (s *Server) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return s.streams.GetExec(req)
}

// GetAttach registers an attach request and returns the URL that runs it.
func (s *Server) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return s.streams.GetAttach(req)
}

// GetPortForward registers a port-forward request and returns the URL
// that carries it.
func (s *Server) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return s.streams.GetPortForward(req)
}

// Close stops listening and ends every session: running execs are killed
// and forwarded connections closed.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	open := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
	s.cancel()
	err := s.http.Close()
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		klog.ErrorS(serr, "Streaming server stopped")
	}
	if err != nil {
		return fmt.Errorf("close streaming server: %w", err)
	}
	return nil
}

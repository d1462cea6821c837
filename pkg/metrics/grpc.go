package metrics

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ServerOptions returns the interceptors that time every call and count
// its failures by code. They must come before crisp's own interceptors so
// that they see the status codes those map errors to.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.unary),
		grpc.ChainStreamInterceptor(m.stream),
	}
}

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observeRPC(info.FullMethod, time.Since(start), err)
	return resp, err
}

func (m *Metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.observeRPC(info.FullMethod, time.Since(start), err)
	return err
}

func (m *Metrics) observeRPC(fullMethod string, d time.Duration, err error) {
	// "/runtime.v1.RuntimeService/RunPodSandbox"
	service, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		service, method = "", fullMethod
	}
	m.rpcDuration.WithLabelValues(service, method).Observe(d.Seconds())
	if code := status.Code(err); code != codes.OK {
		m.rpcErrors.WithLabelValues(service, method, code.String()).Inc()
	}
}

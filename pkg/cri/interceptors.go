package cri

import (
	"context"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// ServerOptions returns the interceptors every CRI call passes through, outer
// first: logging, error mapping, then panic recovery around the handler, so a
// panic is logged as an Internal error and the daemon keeps serving.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(logUnary, mapErrorsUnary, recoverUnary),
		grpc.ChainStreamInterceptor(logStream, mapErrorsStream, recoverStream),
	}
}

func logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	logCall(info.FullMethod, start, err)
	return resp, err
}

func logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	logCall(info.FullMethod, start, err)
	return err
}

func logCall(method string, start time.Time, err error) {
	d := time.Since(start)
	switch status.Code(err) {
	case codes.OK:
		klog.V(2).InfoS("CRI call", "method", method, "duration", d)
	case codes.Unimplemented, codes.NotFound, codes.Canceled:
		// Kubelet probes optional RPCs and looks up absent objects
		// routinely, and ends its event streams by cancelling them.
		klog.V(1).InfoS("CRI call failed", "method", method, "duration", d, "err", err)
	default:
		klog.ErrorS(err, "CRI call failed", "method", method, "duration", d)
	}
}

func mapErrorsUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, toStatus(err)
}

func mapErrorsStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return toStatus(handler(srv, ss))
}

func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer recoverPanic(info.FullMethod, &err)
	return handler(ctx, req)
}

func recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer recoverPanic(info.FullMethod, &err)
	return handler(srv, ss)
}

func recoverPanic(method string, err *error) {
	if r := recover(); r != nil {
		klog.ErrorS(nil, "Panic in CRI handler", "method", method, "panic", r, "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "%s: internal error: panic: %v", method, r)
	}
}

package cri

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// faultyService panics in one RPC and fails another with a classified error.
type faultyService struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	err error
}

func (faultyService) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	panic("boom")
}

func (f faultyService) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return nil, f.err
}

func (faultyService) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{}, nil
}

func TestPanicBecomesInternalAndServerKeepsServing(t *testing.T) {
	c := serve(t, faultyService{})
	ctx := background(t)
	for i := 0; i < 3; i++ {
		_, err := c.Version(ctx, &runtimeapi.VersionRequest{})
		if status.Code(err) != codes.Internal {
			t.Fatalf("panicking handler: code %v (%v), want Internal", status.Code(err), err)
		}
		if !strings.Contains(err.Error(), "boom") {
			t.Errorf("error %q does not carry the panic value", err)
		}
		if _, err := c.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); err != nil {
			t.Fatalf("server stopped serving after a panic: %v", err)
		}
	}
}

func TestErrorsMapToCodes(t *testing.T) {
	tests := []struct {
		err  error
		want codes.Code
	}{
		{errdefs.InvalidField("metadata.name", "must not be empty"), codes.InvalidArgument},
		{fmt.Errorf("pod x: %w", errdefs.ErrNotFound), codes.NotFound},
		{fmt.Errorf("pod x: %w", errdefs.ErrAlreadyExists), codes.AlreadyExists},
		{fmt.Errorf("in use: %w", errdefs.ErrFailedPrecondition), codes.FailedPrecondition},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("pull: %w", errdefs.ErrUnauthenticated), codes.Unauthenticated},
		{fmt.Errorf("pull: %w", errdefs.ErrPermissionDenied), codes.PermissionDenied},
		{fmt.Errorf("user namespaces: %w", errdefs.ErrNotImplemented), codes.Unimplemented},
		{fmt.Errorf("pull: %w", errdefs.ErrResourceExhausted), codes.ResourceExhausted},
		{fmt.Errorf("pull: %w", errdefs.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("plain failure"), codes.Unknown},
		{status.Error(codes.Aborted, "kept"), codes.Aborted},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			c := serve(t, faultyService{err: tt.err})
			_, err := c.Status(background(t), &runtimeapi.StatusRequest{})
			if got := status.Code(err); got != tt.want {
				t.Fatalf("code = %v, want %v (%v)", got, tt.want, err)
			}
			if msg, want := status.Convert(err).Message(), status.Convert(tt.err).Message(); msg != want {
				t.Errorf("message %q, want the error text %q", msg, want)
			}
		})
	}
}

// What a client does routinely (probing an optional RPC, asking for what is
// gone, ending a stream) is no error in the daemon's log; anything else is.
func TestLogCallLevels(t *testing.T) {
	var buf bytes.Buffer
	flags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(flags)
	if err := flags.Parse([]string{"-logtostderr=false", "-v=0"}); err != nil {
		t.Fatal(err)
	}
	klog.SetOutput(&buf)
	t.Cleanup(func() {
		klog.SetOutput(nil)
		_ = flags.Parse([]string{"-logtostderr=true"})
	})
	for _, tc := range []struct {
		code  codes.Code
		error bool
	}{
		{codes.OK, false},
		{codes.Unimplemented, false},
		{codes.NotFound, false},
		{codes.Canceled, false},
		{codes.InvalidArgument, true},
		{codes.Internal, true},
		{codes.DeadlineExceeded, true},
	} {
		buf.Reset()
		var err error
		if tc.code != codes.OK {
			err = status.Error(tc.code, "x")
		}
		logCall("/runtime.v1.RuntimeService/Test", time.Now(), err)
		klog.Flush()
		if got := strings.Contains(buf.String(), "CRI call failed"); got != tc.error {
			t.Errorf("%s: logged as an error %v, want %v (log %q)", tc.code, got, tc.error, buf.String())
		}
	}
}

package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// slowVersion answers Version after a delay, standing in for a long call.
type slowVersion struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	delay   time.Duration
	started chan struct{}
}

func (s *slowVersion) Version(ctx context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	close(s.started)
	select {
	case <-time.After(s.delay):
		return &runtimeapi.VersionResponse{RuntimeName: "crisp"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// inFlight starts a server with a slow call in flight, then stops it with
// the given timeout and returns the call's error and gracefulStop's verdict.
func inFlight(t *testing.T, delay, timeout time.Duration) (error, bool) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	svc := &slowVersion{delay: delay, started: make(chan struct{})}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, svc)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	callErr := make(chan error, 1)
	go func() {
		_, err := runtimeapi.NewRuntimeServiceClient(conn).Version(context.Background(), &runtimeapi.VersionRequest{})
		callErr <- err
	}()
	<-svc.started
	graceful := gracefulStop(srv, timeout)
	return <-callErr, graceful
}

func TestGracefulStopLetsInFlightCallsFinish(t *testing.T) {
	err, graceful := inFlight(t, 300*time.Millisecond, 5*time.Second)
	if err != nil || !graceful {
		t.Fatalf("in-flight call = %v, graceful = %v; want success, true", err, graceful)
	}
}

func TestGracefulStopIsBounded(t *testing.T) {
	err, graceful := inFlight(t, time.Minute, 200*time.Millisecond)
	if err == nil || graceful {
		t.Fatalf("call outliving the timeout = %v, graceful = %v; want error, false", err, graceful)
	}
}

func TestLockFileExcludesSecondHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crisp.lock")
	f, err := lockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) == "" {
		t.Error("lock file does not hold the pid")
	}
	if _, err := lockFile(path); err == nil || !strings.Contains(err.Error(), "another crisp daemon") {
		t.Fatalf("second lock: %v, want refusal", err)
	}
	f.Close()
	g, err := lockFile(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	g.Close()
}

package streaming

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// fakeContainers answers Exec with a fixed exit code or error, or, when
// block is set, with ctx's cause once ctx ends.
type fakeContainers struct {
	code    int32
	err     error
	block   bool
	started chan struct{}
	// attached is the container Attach was last asked for.
	attached string
}

func (f *fakeContainers) Exec(ctx context.Context, _ string, _ []string, _ io.Reader, _, _ io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize) (int32, error) {
	if f.block {
		close(f.started)
		<-ctx.Done()
		return 0, context.Cause(ctx)
	}
	return f.code, f.err
}

// Attach records the container it was asked for.
func (f *fakeContainers) Attach(_ context.Context, id string, _ io.Reader, stdout, _ io.Writer, _ <-chan remotecommand.TerminalSize) error {
	f.attached = id
	if stdout != nil {
		stdout.Write([]byte("attached"))
	}
	return f.err
}

type fakePods struct{ err error }

func (f fakePods) PortForward(context.Context, string, int32, io.ReadWriteCloser) error { return f.err }

func TestExecReportsTheExitCode(t *testing.T) {
	failed := errors.New("exec failed")
	tests := []struct {
		name     string
		fake     fakeContainers
		wantCode int  // the exit code the client is sent, if any
		wantErr  bool // an error other than an exit code
	}{
		{name: "success", fake: fakeContainers{code: 0}},
		{name: "non-zero exit", fake: fakeContainers{code: 4}, wantCode: 4},
		{name: "killed", fake: fakeContainers{code: 137}, wantCode: 137},
		{name: "failure to run", fake: fakeContainers{err: failed}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sessions{containers: &tt.fake, pods: fakePods{}, ctx: context.Background()}
			err := s.Exec(context.Background(), "c1", []string{"sh"}, nil, nil, nil, false, nil)
			// The library tells an exit from a failure by a type assertion,
			// so the exit error must not be wrapped.
			exitErr, isExit := err.(utilexec.ExitError)
			switch {
			case tt.wantErr:
				if !errors.Is(err, failed) || isExit {
					t.Errorf("Exec = %v, want the failure itself", err)
				}
			case tt.wantCode != 0:
				if !isExit || !exitErr.Exited() || exitErr.ExitStatus() != tt.wantCode {
					t.Errorf("Exec = %#v, want an exit error with code %d", err, tt.wantCode)
				}
			case err != nil:
				t.Errorf("Exec = %v, want success", err)
			}
		})
	}
}

func TestAttachReachesTheContainers(t *testing.T) {
	fake := &fakeContainers{}
	s := &sessions{containers: fake, pods: fakePods{}, ctx: context.Background()}
	var out bytes.Buffer
	if err := s.Attach(context.Background(), "c1", nil, nopCloser{&out}, nil, false, nil); err != nil || fake.attached != "c1" || out.String() != "attached" {
		t.Errorf("Attach = %v, attached %q, output %q", err, fake.attached, out.String())
	}
	// No stdout asked for: the container manager gets a nil writer, not a
	// typed nil it would write to.
	if err := s.Attach(context.Background(), "c2", nil, nil, nil, false, nil); err != nil || fake.attached != "c2" {
		t.Errorf("Attach without streams = %v, attached %q", err, fake.attached)
	}
}

// nopCloser is a WriteCloser around a Writer.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func TestPortForwardReachesThePods(t *testing.T) {
	gone := errors.New("no such pod")
	s := &sessions{containers: &fakeContainers{}, pods: fakePods{err: gone}, ctx: context.Background()}
	if err := s.PortForward(context.Background(), "p1", 80, nil); !errors.Is(err, gone) {
		t.Errorf("PortForward = %v, want the pod manager's error", err)
	}
}

func startServer(t *testing.T, c Containers) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{
		Address: "127.0.0.1:0", IdleTimeout: time.Minute, StreamCreationTimeout: time.Minute,
		Containers: c, Pods: fakePods{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServerHandsOutURLsOnItsAddress(t *testing.T) {
	s := startServer(t, &fakeContainers{})
	defer s.Close()
	base, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if host, port, _ := net.SplitHostPort(base.Host); host != "127.0.0.1" || port == "0" || port == "" {
		t.Fatalf("server URL %s, want the port actually bound on 127.0.0.1", s.URL())
	}
	exec, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "p1", Port: []int32{80}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{exec.Url, pf.Url} {
		if !strings.HasPrefix(u, s.URL()) {
			t.Errorf("URL %s is not on the server's %s", u, s.URL())
		}
		// A plain request is no session, but it uses up the URL's
		// token: the second one finds nothing.
		for i, want := range []int{http.StatusBadRequest, http.StatusNotFound} {
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("request %d to %s: status %d, want %d", i+1, u, resp.StatusCode, want)
			}
		}
	}
}

func TestCloseEndsRunningSessions(t *testing.T) {
	fake := &fakeContainers{block: true, started: make(chan struct{})}
	s := startServer(t, fake)
	done := make(chan error, 1)
	go func() { done <- s.runtime.Exec(context.Background(), "c1", []string{"sh"}, nil, nil, nil, false, nil) }()
	<-fake.started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errServerClosed) {
		t.Errorf("exec running when the server closed: %v, want it ended by the close", err)
	}
	if _, err := http.Get(s.URL()); err == nil {
		t.Error("the server still answers after Close")
	}
}

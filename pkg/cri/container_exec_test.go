package cri

import (
	"context"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// fakeStreams records the requests it hands URLs out for.
type fakeStreams struct {
	execs    []*runtimeapi.ExecRequest
	pfs      []*runtimeapi.PortForwardRequest
	attaches []*runtimeapi.AttachRequest
}

func (f *fakeStreams) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	f.attaches = append(f.attaches, req)
	return &runtimeapi.AttachResponse{Url: "http://127.0.0.1:1/attach/token"}, nil
}

func (f *fakeStreams) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	f.execs = append(f.execs, req)
	return &runtimeapi.ExecResponse{Url: "http://127.0.0.1:1/exec/token"}, nil
}

func (f *fakeStreams) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	f.pfs = append(f.pfs, req)
	return &runtimeapi.PortForwardResponse{Url: "http://127.0.0.1:1/portforward/token"}, nil
}

// streamPods knows one ready pod, pod1 (full id pod1-full).
type streamPods struct{}

func (streamPods) Get(id string) (*sandbox.Sandbox, error) {
	if strings.HasPrefix("pod1-full", id) && id != "" {
		return &sandbox.Sandbox{ID: "pod1-full", State: sandbox.StateReady}, nil
	}
	return nil, fmt.Errorf("pod sandbox %s: %w", id, errdefs.ErrNotFound)
}

func (streamPods) Run(context.Context, sandbox.Spec) (*sandbox.Sandbox, error) { return nil, nil }
func (streamPods) Stop(context.Context, string) error                          { return nil }
func (streamPods) Remove(context.Context, string) error                        { return nil }
func (streamPods) List() []*sandbox.Sandbox                                    { return nil }
func (streamPods) Stats(string) (*sandbox.Stats, error)                        { return nil, nil }
func (streamPods) ProcessStats(string) (*cgroups.ProcessStats, error)          { return nil, nil }
func (streamPods) UpdateResources(context.Context, string, *specs.LinuxResources) error {
	return nil
}

func newStreamService(t *testing.T) (*fakeStreams, runtimeapi.RuntimeServiceClient) {
	t.Helper()
	f, _ := newContainerService(t)
	streams := &fakeStreams{}
	rs := NewRuntimeService(config.Default(), RuntimeDeps{Network: networkStatus{}, Containers: f, Sandboxes: streamPods{}, Streams: streams})
	return streams, serve(t, rs)
}

func TestStreamingRequestsAreValidated(t *testing.T) {
	streams, c := newStreamService(t)
	ctx := background(t)
	exec := func(req *runtimeapi.ExecRequest) func() error {
		return func() error { _, err := c.Exec(ctx, req); return err }
	}
	pf := func(req *runtimeapi.PortForwardRequest) func() error {
		return func() error { _, err := c.PortForward(ctx, req); return err }
	}
	attach := func(req *runtimeapi.AttachRequest) func() error {
		return func() error { _, err := c.Attach(ctx, req); return err }
	}
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string // named in the message
	}{
		{"exec without container", exec(&runtimeapi.ExecRequest{Cmd: []string{"sh"}, Stdout: true}), codes.InvalidArgument, "container_id"},
		{"exec without command", exec(&runtimeapi.ExecRequest{ContainerId: "aaa1", Stdout: true}), codes.InvalidArgument, "cmd"},
		{"exec without streams", exec(&runtimeapi.ExecRequest{ContainerId: "aaa1", Cmd: []string{"sh"}}), codes.InvalidArgument, "stdin"},
		{"exec with tty and stderr", exec(&runtimeapi.ExecRequest{ContainerId: "aaa1", Cmd: []string{"sh"}, Tty: true, Stdout: true, Stderr: true}), codes.InvalidArgument, "stderr"},
		{"exec in unknown container", exec(&runtimeapi.ExecRequest{ContainerId: "zzz", Cmd: []string{"sh"}, Stdout: true}), codes.NotFound, "zzz"},
		{"exec in exited container", exec(&runtimeapi.ExecRequest{ContainerId: "bbb2", Cmd: []string{"sh"}, Stdout: true}), codes.FailedPrecondition, "not running"},
		{"exec in creating container", exec(&runtimeapi.ExecRequest{ContainerId: "ccc3", Cmd: []string{"sh"}, Stdout: true}), codes.FailedPrecondition, "not running"},
		{"port forward without pod", pf(&runtimeapi.PortForwardRequest{Port: []int32{80}}), codes.InvalidArgument, "pod_sandbox_id"},
		{"port forward to port 0", pf(&runtimeapi.PortForwardRequest{PodSandboxId: "pod1", Port: []int32{80, 0}}), codes.InvalidArgument, "port[1]"},
		{"port forward to port 65536", pf(&runtimeapi.PortForwardRequest{PodSandboxId: "pod1", Port: []int32{65536}}), codes.InvalidArgument, "port[0]"},
		{"port forward to unknown pod", pf(&runtimeapi.PortForwardRequest{PodSandboxId: "pod2", Port: []int32{80}}), codes.NotFound, "pod2"},
		{"attach without container", attach(&runtimeapi.AttachRequest{Stdout: true}), codes.InvalidArgument, "container_id"},
		{"attach without streams", attach(&runtimeapi.AttachRequest{ContainerId: "aaa1"}), codes.InvalidArgument, "stdin"},
		{"attach with tty and stderr", attach(&runtimeapi.AttachRequest{ContainerId: "aaa1", Tty: true, Stdout: true, Stderr: true}), codes.InvalidArgument, "stderr"},
		{"attach to unknown container", attach(&runtimeapi.AttachRequest{ContainerId: "zzz", Stdout: true}), codes.NotFound, "zzz"},
		{"attach to exited container", attach(&runtimeapi.AttachRequest{ContainerId: "bbb2", Stdout: true}), codes.FailedPrecondition, "not running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want %s naming %s", err, tt.code, tt.field)
			}
		})
	}
	if len(streams.execs) != 0 || len(streams.pfs) != 0 || len(streams.attaches) != 0 {
		t.Errorf("URLs were handed out for refused requests: %v %v %v", streams.execs, streams.pfs, streams.attaches)
	}
}

func TestStreamingRequestsGetURLs(t *testing.T) {
	streams, c := newStreamService(t)
	ctx := background(t)
	resp, err := c.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: "aaa1", Cmd: []string{"sh", "-i"}, Tty: true, Stdin: true, Stdout: true})
	if err != nil || resp.Url != "http://127.0.0.1:1/exec/token" {
		t.Fatalf("Exec = %v, %v", resp, err)
	}
	if got := streams.execs[0]; got.ContainerId != "aaa1" || strings.Join(got.Cmd, " ") != "sh -i" || !got.Tty || !got.Stdin || !got.Stdout || got.Stderr {
		t.Errorf("the streaming server got %v", got)
	}
	pf, err := c.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "pod1", Port: []int32{8080}})
	if err != nil || pf.Url != "http://127.0.0.1:1/portforward/token" {
		t.Fatalf("PortForward = %v, %v", pf, err)
	}
	// The session names the pod by the full id the prefix resolved to.
	if got := streams.pfs[0]; got.PodSandboxId != "pod1-full" || len(got.Port) != 1 || got.Port[0] != 8080 {
		t.Errorf("the streaming server got %v", got)
	}
	at, err := c.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: "aaa1", Stdin: true, Tty: true, Stdout: true})
	if err != nil || at.Url != "http://127.0.0.1:1/attach/token" {
		t.Fatalf("Attach = %v, %v", at, err)
	}
	if got := streams.attaches[0]; got.ContainerId != "aaa1" || !got.Stdin || !got.Tty || !got.Stdout || got.Stderr {
		t.Errorf("the streaming server got %v", got)
	}
}

func TestStreamingWithoutAServerIsUnimplemented(t *testing.T) {
	ctx := background(t)
	f, _ := newContainerService(t)
	bare := serve(t, NewRuntimeService(config.Default(), RuntimeDeps{Network: networkStatus{}, Containers: f, Sandboxes: streamPods{}}))
	if _, err := bare.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: "aaa1", Cmd: []string{"sh"}, Stdout: true}); status.Code(err) != codes.Unimplemented {
		t.Errorf("Exec without a streaming server = %v, want Unimplemented", err)
	}
	if _, err := bare.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "pod1"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("PortForward without a streaming server = %v, want Unimplemented", err)
	}
	if _, err := bare.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: "aaa1", Stdout: true}); status.Code(err) != codes.Unimplemented {
		t.Errorf("Attach without a streaming server = %v, want Unimplemented", err)
	}
}

package cri

import (
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// A pod's status reports its user namespace as RunPodSandbox asked for it:
// kubelet's mode and maps for a pod of its own, NODE otherwise.
func TestSandboxStatusReportsUserNamespace(t *testing.T) {
	cfg := validPodConfig()
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_POD
	asked := &runtimeapi.UserNamespace{
		Mode: runtimeapi.NamespaceMode_POD,
		Uids: usernsMaps(1 << 20),
		Gids: []*runtimeapi.IDMapping{{ContainerId: 0, HostId: 2 << 20, Length: 1000}, {ContainerId: 1000, HostId: 3 << 20, Length: 64536}},
	}
	cfg.Linux.SecurityContext.NamespaceOptions.UsernsOptions = asked
	spec, err := sandboxSpec(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	got := sandboxStatus(&sandbox.Sandbox{ID: "p", Spec: spec}).GetLinux().GetNamespaces().GetOptions().GetUsernsOptions()
	if !proto.Equal(got, asked) {
		t.Errorf("userns_options %v, want %v", got, asked)
	}

	cfg.Linux.SecurityContext.NamespaceOptions.UsernsOptions = nil
	if spec, err = sandboxSpec(cfg, ""); err != nil {
		t.Fatal(err)
	}
	got = sandboxStatus(&sandbox.Sandbox{ID: "p", Spec: spec}).GetLinux().GetNamespaces().GetOptions().GetUsernsOptions()
	if want := (&runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}); !proto.Equal(got, want) {
		t.Errorf("host's user namespace: userns_options %v, want %v", got, want)
	}
}

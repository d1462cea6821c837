package container

import (
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/oci/spec"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func TestPodSpec(t *testing.T) {
	md := sandbox.Metadata{Name: "web", Namespace: "prod", UID: "u1"}
	files := func(p spec.Pod) spec.Pod {
		p.ID, p.Name, p.Namespace, p.UID = "pod1", "web", "prod", "u1"
		p.ResolvConf, p.Hosts, p.Hostname = "/s/pods/pod1/resolv.conf", "/s/pods/pod1/hosts", "/s/pods/pod1/hostname"
		return p
	}
	tests := []struct {
		name string
		sb   sandbox.Sandbox
		want spec.Pod
	}{
		{"own namespaces", sandbox.Sandbox{
			Spec: sandbox.Spec{Metadata: md, NetworkMode: sandbox.ModePod, IPCMode: sandbox.ModePod, PIDMode: sandbox.ModeContainer},
			Namespaces: map[sandbox.NamespaceKind]string{
				sandbox.NamespaceNet: "/s/ns/net/pod1", sandbox.NamespaceIPC: "/s/ns/ipc/pod1", sandbox.NamespaceUTS: "/s/ns/uts/pod1",
			},
			Shm: "/s/pods/pod1/shm",
		}, files(spec.Pod{NetNS: "/s/ns/net/pod1", IPCNS: "/s/ns/ipc/pod1", UTSNS: "/s/ns/uts/pod1", ShmDir: "/s/pods/pod1/shm"})},
		{"shared PID namespace", sandbox.Sandbox{
			Spec: sandbox.Spec{Metadata: md, NetworkMode: sandbox.ModePod, IPCMode: sandbox.ModePod, PIDMode: sandbox.ModePod},
			Namespaces: map[sandbox.NamespaceKind]string{
				sandbox.NamespaceNet: "/s/ns/net/pod1", sandbox.NamespaceIPC: "/s/ns/ipc/pod1", sandbox.NamespaceUTS: "/s/ns/uts/pod1",
				sandbox.NamespacePID: "/s/ns/pid/pod1",
			},
			Shm: "/s/pods/pod1/shm",
		}, files(spec.Pod{NetNS: "/s/ns/net/pod1", IPCNS: "/s/ns/ipc/pod1", UTSNS: "/s/ns/uts/pod1", PIDNS: "/s/ns/pid/pod1", ShmDir: "/s/pods/pod1/shm"})},
		{"host network, IPC and PID, privileged", sandbox.Sandbox{
			Spec: sandbox.Spec{Metadata: md, NetworkMode: sandbox.ModeNode, IPCMode: sandbox.ModeNode, PIDMode: sandbox.ModeNode, Privileged: true},
		}, files(spec.Pod{HostPID: true, Privileged: true})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sb.ID, tt.sb.Dir = "pod1", "/s/pods/pod1"
			if got := podSpec(&tt.sb); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("podSpec =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestResourcesRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *runtimeapi.LinuxContainerResources
	}{
		{"nil", nil},
		{"empty", &runtimeapi.LinuxContainerResources{}},
		{"all fields", &runtimeapi.LinuxContainerResources{
			CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 999,
			CpusetCpus: "0-1", CpusetMems: "0", MemorySwapLimitInBytes: 64 << 20,
			HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}},
			Unified:        map[string]string{"memory.high": "50000000"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resourcesFromCRI(tt.in)
			// Through the store and back.
			data, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back *Resources
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if got := back.CRI(); !proto.Equal(got, tt.in) {
				t.Errorf("round trip = %v, want %v", got, tt.in)
			}
		})
	}
}

func TestMountsRoundTrip(t *testing.T) {
	in := []*runtimeapi.Mount{
		{ContainerPath: "/data", HostPath: "/var/lib/data", Readonly: true, RecursiveReadOnly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{ContainerPath: "/cache", HostPath: "/tmp/cache", SelinuxRelabel: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		{ContainerPath: "/x", HostPath: "/y"},
	}
	got := mountsFromCRI(in)
	if got[0].Propagation != "PROPAGATION_HOST_TO_CONTAINER" {
		t.Errorf("propagation stored as %q, want the enum's name", got[0].Propagation)
	}
	for i, m := range got {
		if !proto.Equal(m.CRI(), in[i]) {
			t.Errorf("mount %d = %v, want %v", i, m.CRI(), in[i])
		}
	}
}

func TestStateCRI(t *testing.T) {
	tests := map[State]runtimeapi.ContainerState{
		StateCreating: runtimeapi.ContainerState_CONTAINER_UNKNOWN,
		StateCreated:  runtimeapi.ContainerState_CONTAINER_CREATED,
		StateRunning:  runtimeapi.ContainerState_CONTAINER_RUNNING,
		StateExited:   runtimeapi.ContainerState_CONTAINER_EXITED,
		StateUnknown:  runtimeapi.ContainerState_CONTAINER_UNKNOWN,
	}
	for s, want := range tests {
		if got := s.CRI(); got != want {
			t.Errorf("%s.CRI() = %v, want %v", s, got, want)
		}
	}
}

package network

import (
	"fmt"
	"slices"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

func chainTypes(list *libcni.NetworkConfigList) []string {
	var out []string
	for _, p := range list.Plugins {
		out = append(out, p.Network.Type)
	}
	return out
}

func TestChainForSkipsIdlePlugins(t *testing.T) {
	conf := func(plugins string) *libcni.NetworkConfigList {
		t.Helper()
		list, err := libcni.NetworkConfFromBytes([]byte(fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "pods", "plugins": [%s]}`, plugins)))
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	standard := conf(`{"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": true}},
		{"type": "bandwidth", "capabilities": {"bandwidth": true}}, {"type": "tuning"}`)
	limited := conf(`{"type": "bridge"}, {"type": "bandwidth", "ingressRate": 1000, "ingressBurst": 1000}`)
	portmapFirst := conf(`{"type": "portmap"}, {"type": "bridge"}`)
	plain := &Pod{}
	withHostPort := &Pod{PortMappings: []PortMapping{{Protocol: "TCP", ContainerPort: 80, HostPort: 8080}}}
	withContainerPort := &Pod{PortMappings: []PortMapping{{Protocol: "TCP", ContainerPort: 80}}}
	withBandwidth := &Pod{Bandwidth: &Bandwidth{IngressRate: 1000, IngressBurst: 1000}}
	for _, tc := range []struct {
		name string
		skip bool
		list *libcni.NetworkConfigList
		pod  *Pod
		want []string
	}{
		{"off", false, standard, plain, []string{"bridge", "portmap", "bandwidth", "tuning"}},
		{"a pod that asks for nothing", true, standard, plain, []string{"bridge", "tuning"}},
		{"a host port", true, standard, withHostPort, []string{"bridge", "portmap", "tuning"}},
		{"a container port only", true, standard, withContainerPort, []string{"bridge", "tuning"}},
		{"a pod's bandwidth", true, standard, withBandwidth, []string{"bridge", "bandwidth", "tuning"}},
		{"the plugin's own rate", true, limited, plain, []string{"bridge", "bandwidth"}},
		{"first in its chain", true, portmapFirst, plain, []string{"portmap", "bridge"}},
	} {
		m := &Manager{skipIdle: tc.skip}
		if got := chainTypes(m.chainFor(tc.list, tc.pod)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: chain %v, want %v", tc.name, got, tc.want)
		}
	}
	if len(standard.Plugins) != 4 {
		t.Errorf("chainFor changed the configuration: %v", chainTypes(standard))
	}
}

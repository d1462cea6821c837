package network

import (
	"encoding/json"

	"github.com/containernetworking/cni/libcni"
)

// Some plugins only act on a capability a pod may not ask for, and pass the
// previous result on unchanged when it does not: in the standard plugins
// (v1.x) portmap without port mappings, and bandwidth without a rate in its
// own configuration or the pod's. Their DEL and CHECK then find nothing of
// theirs either. Running them costs a fork and exec each at every pod start
// and stop, so crisp leaves them out of that pod's chain, the same way for
// ADD, CHECK and DEL. A plugin first in its chain is always run: without a
// previous result it fails, and skipping it would hide that.

// chainFor returns the plugins of list that pod p needs run: all of them
// unless the manager skips idle ones.
func (m *Manager) chainFor(list *libcni.NetworkConfigList, p *Pod) *libcni.NetworkConfigList {
	if !m.skipIdle {
		return list
	}
	chain := *list
	chain.Plugins = nil
	for i, plugin := range list.Plugins {
		if i > 0 && idle(plugin, p) {
			continue
		}
		chain.Plugins = append(chain.Plugins, plugin)
	}
	return &chain
}

// idle reports whether plugin would pass the previous result on unchanged
// for pod p.
func idle(plugin *libcni.PluginConfig, p *Pod) bool {
	switch plugin.Network.Type {
	case "portmap":
		return len(p.hostPortMappings()) == 0
	case "bandwidth":
		if p.Bandwidth != nil {
			return false
		}
		// The plugin's own rates apply to every pod.
		var own struct {
			IngressRate  uint64 `json:"ingressRate"`
			IngressBurst uint64 `json:"ingressBurst"`
			EgressRate   uint64 `json:"egressRate"`
			EgressBurst  uint64 `json:"egressBurst"`
		}
		if err := json.Unmarshal(plugin.Bytes, &own); err != nil {
			return false
		}
		return own.IngressRate == 0 && own.IngressBurst == 0 && own.EgressRate == 0 && own.EgressBurst == 0
	}
	return false
}

package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"k8s.io/klog/v2"
)

// ifName is the pod's interface, as every Kubernetes runtime names it.
const ifName = "eth0"

func (m *Manager) cni() libcni.CNI {
	c := libcni.NewCNIConfigWithCacheDir(m.binDirs, m.cacheDir, m.exec)
	if m.observer == nil {
		return c
	}
	return timedCNI{CNI: c, observer: m.observer}
}

func (m *Manager) runtimeConf(p *Pod) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID:    p.ID,
		NetNS:          p.NetNS,
		IfName:         ifName,
		Args:           p.cniArgs(),
		CapabilityArgs: p.capabilityArgs(),
	}
}

// Attach runs CNI ADD for the pod and returns its addresses. A failed ADD is
// followed by a DEL so no veth, lease or iptables rule is left behind.
func (m *Manager) Attach(ctx context.Context, p *Pod) (*Result, error) {
	if err := p.validateArgs(); err != nil {
		return nil, err
	}
	if err := p.validatePortMappings(); err != nil {
		return nil, err
	}
	conf, err := m.LoadConfig()
	if err != nil {
		return nil, err
	}
	list := m.chainFor(conf, p)
	rt := m.runtimeConf(p)
	res, err := m.cni().AddNetworkList(ctx, list, rt)
	if err != nil {
		if delErr := m.del(context.WithoutCancel(ctx), list, rt); delErr != nil {
			klog.ErrorS(delErr, "Cleaning up after failed CNI ADD", "pod", p.ID, "network", list.Name)
		}
		return nil, fmt.Errorf("CNI network %q: add pod %s/%s: %w", list.Name, p.Namespace, p.Name, err)
	}
	out, err := podResult(res)
	if err != nil {
		if delErr := m.del(context.WithoutCancel(ctx), list, rt); delErr != nil {
			klog.ErrorS(delErr, "Cleaning up after bad CNI result", "pod", p.ID)
		}
		return nil, fmt.Errorf("CNI network %q: %w", list.Name, err)
	}
	return out, nil
}

// Detach runs CNI DEL for the pod. DEL is idempotent in CNI, so detaching a
// pod twice, or one whose namespace is already gone, succeeds.
func (m *Manager) Detach(ctx context.Context, p *Pod) error {
	list, err := m.LoadConfig()
	if errors.Is(err, ErrNoConfig) {
		// Without a configuration nothing can have been attached through one;
		// leases from a removed configuration are the admin's to clear.
		klog.InfoS("No CNI configuration: skipping network teardown", "pod", p.ID)
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.del(ctx, m.chainFor(list, p), m.runtimeConf(p)); err != nil {
		return fmt.Errorf("CNI network %q: delete pod %s/%s: %w", list.Name, p.Namespace, p.Name, err)
	}
	return nil
}

// del runs CNI DEL through the plugins of list that are installed. A plugin
// that is not installed cannot have set anything up (an ADD through it fails
// before it runs), and insisting on it would make the pod impossible to
// remove.
func (m *Manager) del(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	installed := *list
	installed.Plugins = nil
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, m.binDirs); err != nil {
			klog.InfoS("CNI plugin not installed: skipping its DEL", "network", list.Name, "plugin", p.Network.Type)
			continue
		}
		installed.Plugins = append(installed.Plugins, p)
	}
	if len(installed.Plugins) == 0 {
		return nil
	}
	return m.cni().DelNetworkList(ctx, &installed, rt)
}

// Check runs CNI CHECK: the pod's network is still as ADD left it.
func (m *Manager) Check(ctx context.Context, p *Pod) error {
	list, err := m.LoadConfig()
	if err != nil {
		return err
	}
	if err := m.cni().CheckNetworkList(ctx, m.chainFor(list, p), m.runtimeConf(p)); err != nil {
		return fmt.Errorf("CNI network %q: check pod %s/%s: %w", list.Name, p.Namespace, p.Name, err)
	}
	return nil
}

// podResult picks the addresses on the pod's side of the attachment.
func podResult(res types.Result) (*Result, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("convert result: %w", err)
	}
	var ips []netip.Addr
	for _, ip := range r.IPs {
		// Skip addresses on host-side interfaces (bridges, veth peers).
		if ip.Interface != nil && *ip.Interface < len(r.Interfaces) && r.Interfaces[*ip.Interface].Sandbox == "" {
			continue
		}
		a, ok := netip.AddrFromSlice(ip.Address.IP)
		if !ok {
			return nil, fmt.Errorf("bad address %v", ip.Address)
		}
		ips = append(ips, a.Unmap())
	}
	if len(ips) == 0 {
		return nil, errors.New("result has no pod address")
	}
	// IPv4 first, as kubelet expects the primary address to be.
	slices.SortStableFunc(ips, func(a, b netip.Addr) int {
		switch {
		case a.Is4() && !b.Is4():
			return -1
		case !a.Is4() && b.Is4():
			return 1
		}
		return 0
	})
	return &Result{IPs: ips}, nil
}

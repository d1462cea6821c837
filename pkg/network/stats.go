package network

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// InterfaceStats are one interface's traffic counters.
type InterfaceStats struct {
	Name                                    string
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// DefaultInterface is the interface CNI gives a pod; kubelet reports its
// counters as the pod's.
const DefaultInterface = ifName

// MaxInterfaces bounds the interfaces a pod's stats report. A container
// with CAP_NET_ADMIN in its pod's namespace can make as many interfaces as
// it likes; unbounded, they would swell every stats answer and the metrics
// endpoint's label sets, past what kubelet accepts for the whole node.
const MaxInterfaces = 32

// InterfaceStatsIn reads the counters of the interfaces but loopback in the
// network namespace pinned at netnsPath, over a netlink socket opened
// inside it; no process needs to live in the namespace. It reports at most
// MaxInterfaces: the default interface first, then the others by name.
func InterfaceStatsIn(netnsPath string) ([]InterfaceStats, error) {
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", netnsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", netnsPath, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces in %s: %w", netnsPath, err)
	}
	var out []InterfaceStats
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || a.Statistics == nil {
			continue
		}
		out = append(out, InterfaceStats{
			Name:      a.Name,
			RxBytes:   a.Statistics.RxBytes,
			RxPackets: a.Statistics.RxPackets,
			RxErrors:  a.Statistics.RxErrors,
			RxDropped: a.Statistics.RxDropped,
			TxBytes:   a.Statistics.TxBytes,
			TxPackets: a.Statistics.TxPackets,
			TxErrors:  a.Statistics.TxErrors,
			TxDropped: a.Statistics.TxDropped,
		})
	}
	slices.SortFunc(out, func(a, b InterfaceStats) int {
		switch {
		case a.Name == b.Name:
			return 0
		case a.Name == DefaultInterface:
			return -1
		case b.Name == DefaultInterface:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out) > MaxInterfaces {
		out = out[:MaxInterfaces]
	}
	return out, nil
}

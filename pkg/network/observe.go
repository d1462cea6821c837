package network

import (
	"context"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// Observer is told how long each CNI operation on a pod's network took and
// how it ended; operation is "ADD", "DEL" or "CHECK".
type Observer interface {
	ObserveCNI(operation string, d time.Duration, err error)
}

// timedCNI times the network-list operations crisp runs.
type timedCNI struct {
	libcni.CNI
	observer Observer
}

func (t timedCNI) AddNetworkList(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error) {
	start := time.Now()
	res, err := t.CNI.AddNetworkList(ctx, list, rt)
	t.observer.ObserveCNI("ADD", time.Since(start), err)
	return res, err
}

func (t timedCNI) DelNetworkList(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	start := time.Now()
	err := t.CNI.DelNetworkList(ctx, list, rt)
	t.observer.ObserveCNI("DEL", time.Since(start), err)
	return err
}

func (t timedCNI) CheckNetworkList(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	start := time.Now()
	err := t.CNI.CheckNetworkList(ctx, list, rt)
	t.observer.ObserveCNI("CHECK", time.Since(start), err)
	return err
}

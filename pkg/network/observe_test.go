package network

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// slowCNI takes a while over each operation; ADD fails.
type slowCNI struct{ libcni.CNI }

func (slowCNI) AddNetworkList(context.Context, *libcni.NetworkConfigList, *libcni.RuntimeConf) (types.Result, error) {
	time.Sleep(5 * time.Millisecond)
	return nil, errors.New("plugin failed")
}

func (slowCNI) DelNetworkList(context.Context, *libcni.NetworkConfigList, *libcni.RuntimeConf) error {
	time.Sleep(5 * time.Millisecond)
	return nil
}

func (slowCNI) CheckNetworkList(context.Context, *libcni.NetworkConfigList, *libcni.RuntimeConf) error {
	return nil
}

type recordedCNI struct {
	op  string
	d   time.Duration
	err error
}

type recorder []recordedCNI

func (r *recorder) ObserveCNI(op string, d time.Duration, err error) {
	*r = append(*r, recordedCNI{op, d, err})
}

func TestTimedCNIReportsEachOperation(t *testing.T) {
	var r recorder
	c := timedCNI{CNI: slowCNI{}, observer: &r}
	ctx := context.Background()
	if _, err := c.AddNetworkList(ctx, nil, nil); err == nil {
		t.Fatal("ADD through the failing plugin succeeded")
	}
	if err := c.DelNetworkList(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckNetworkList(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(r) != 3 || r[0].op != "ADD" || r[0].err == nil || r[1].op != "DEL" || r[1].err != nil || r[2].op != "CHECK" {
		t.Fatalf("observed %+v, want a failed ADD, a DEL and a CHECK", r)
	}
	if r[0].d < 5*time.Millisecond || r[1].d < 5*time.Millisecond {
		t.Errorf("durations %v, %v: want at least the plugin's 5ms", r[0].d, r[1].d)
	}
	m := NewManager(t.TempDir(), []string{t.TempDir()}, t.TempDir())
	if _, ok := m.cni().(timedCNI); ok {
		t.Error("a manager without an observer times its calls")
	}
	m.SetObserver(&r)
	if _, ok := m.cni().(timedCNI); !ok {
		t.Error("a manager with an observer does not time its calls")
	}
}

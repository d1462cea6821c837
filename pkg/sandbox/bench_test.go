package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/store"
)

// The benchmarks split a pod's life into the parts that cost: CNI, store
// commits, namespace pins and the pod cgroup. hack/bench-pods.sh measures
// the whole daemon against containerd; these say where crisp's time goes.
//
//	go test -run '^$' -bench . -benchtime 50x ./pkg/sandbox/

// timedNetwork adds up the time spent in CNI ADD and DEL.
type timedNetwork struct {
	Network
	attach, detach time.Duration
}

func (n *timedNetwork) Attach(ctx context.Context, p *network.Pod) (*network.Result, error) {
	start := time.Now()
	defer func() { n.attach += time.Since(start) }()
	return n.Network.Attach(ctx, p)
}

func (n *timedNetwork) Detach(ctx context.Context, p *network.Pod) error {
	start := time.Now()
	defer func() { n.detach += time.Since(start) }()
	return n.Network.Detach(ctx, p)
}

// benchHierarchy is the host's cgroup v2 hierarchy, as testHierarchy.
func benchHierarchy(b *testing.B) *cgroups.Hierarchy {
	b.Helper()
	for _, mount := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if h, err := cgroups.OpenHierarchy(mount, cgroups.MissingWarn); err == nil {
			return h
		}
	}
	b.Skip("needs a cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	return nil
}

// benchManager is a Manager on a bridge network (the one hack/bench-pods.sh
// uses) in the test's private network namespace.
func benchManager(b *testing.B) (*Manager, *timedNetwork) {
	b.Helper()
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			b.Skipf("needs the CNI %s plugin in %s (hack/install-cni.sh --plugins-only installs it)", p, cniBinDir)
		}
	}
	h := benchHierarchy(b)
	dir := b.TempDir()
	confDir := filepath.Join(dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		b.Fatal(err)
	}
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "crisp-bench", "plugins": [
  {"type": "bridge", "bridge": "crispbench0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "10.97.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}`, filepath.Join(dir, "ipam"))
	if err := os.WriteFile(filepath.Join(confDir, "10-bench.conflist"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := store.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	net := &timedNetwork{Network: network.NewManager(confDir, []string{cniBinDir}, filepath.Join(dir, "cni-cache"))}
	state := filepath.Join(dir, "state")
	m, err := NewManager(context.Background(), Options{
		StateDir: state, Store: s, Network: net, Cgroups: h, CgroupDriver: cgroups.DriverCgroupfs,
	})
	if err != nil {
		s.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, sb := range m.List() {
			m.Remove(context.Background(), sb.ID)
		}
		s.Close()
		unix.Unmount(filepath.Join(state, "ns"), unix.MNT_DETACH)
	})
	return m, net
}

// BenchmarkRunStopRemovePod is one pod's whole life, as kubelet drives it
// for a pod without containers, with the CNI share of it reported.
func BenchmarkRunStopRemovePod(b *testing.B) {
	m, net := benchManager(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec := podSpec(fmt.Sprintf("bench-%d", i))
		sb, err := m.Run(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Stop(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
		if err := m.Remove(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(net.attach.Microseconds())/1000/float64(b.N), "cni-add-ms/op")
	b.ReportMetric(float64(net.detach.Microseconds())/1000/float64(b.N), "cni-del-ms/op")
}

// BenchmarkRecordPut is one commit of a pod record: Run makes several.
func BenchmarkRecordPut(b *testing.B) {
	s, err := store.Open(filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	records, err := store.NewTable[Sandbox](s, "sandboxes")
	if err != nil {
		b.Fatal(err)
	}
	sb := &Sandbox{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Spec: podSpec("bench"), State: StateReady}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := records.Put(sb.ID, sb); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPinNamespaces creates, pins and unpins a pod's network, UTS and
// IPC namespaces.
func BenchmarkPinNamespaces(b *testing.B) {
	p := pinner{dir: filepath.Join(b.TempDir(), "ns")}
	if err := p.prepare(); err != nil {
		b.Fatal(err)
	}
	defer unix.Unmount(p.dir, unix.MNT_DETACH)
	kinds := []NamespaceKind{NamespaceNet, NamespaceUTS, NamespaceIPC}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("pod-%d", i)
		if _, err := p.create(id, kinds, func() error { return unix.Sethostname([]byte(id)) }); err != nil {
			b.Fatal(err)
		}
		if err := p.remove(id, kinds); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPodCgroup creates and removes a pod cgroup.
func BenchmarkPodCgroup(b *testing.B) {
	h := benchHierarchy(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cg, err := cgroups.NewManager(h, fmt.Sprintf("/crisp-bench/pod-%d-%d", os.Getpid(), i))
		if err != nil {
			b.Fatal(err)
		}
		if err := cg.Create(ctx); err != nil {
			b.Fatal(err)
		}
		if err := cg.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	os.Remove(filepath.Join(h.Mount(), "crisp-bench"))
}

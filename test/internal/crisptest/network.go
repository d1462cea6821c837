package crisptest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cniPlugins are the plugins a PodNetwork uses.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// NewNetns makes a network namespace with only loopback up, held by a
// process of its own until the test ends, and returns its path. Daemons
// started in it (Daemon.Netns) keep their pod network across restarts.
func NewNetns(t testing.TB) string {
	t.Helper()
	holder := exec.Command("unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo ready && exec cat")
	in, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close() // cat exits on end of input
		holder.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("network namespace holder: %q, %v", line, err)
	}
	return fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
}

// PodNetwork describes the bridge network a daemon's pods join.
type PodNetwork struct {
	// Name is the CNI network name; Bridge the bridge device.
	Name, Bridge string
	// IPAMDir is host-local's data dir: its leases are in IPAMDir/Name.
	IPAMDir string
}

// SetupPodNetwork configures d with a bridge pod network named name on
// bridge, with 10.98.0.0/24 leases kept below d.Dir. It skips when the
// standard CNI plugins are not installed. d must run in a network
// namespace of its own (PrivateNetwork or Netns).
func SetupPodNetwork(t testing.TB, d *Daemon, name, bridge string) PodNetwork {
	t.Helper()
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join("/opt/cni/bin", p)); err != nil {
			t.Skipf("needs the CNI %s plugin in /opt/cni/bin (make install installs the standard plugins)", p)
		}
	}
	n := PodNetwork{Name: name, Bridge: bridge, IPAMDir: filepath.Join(d.Dir, "ipam")}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[
  {"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,
   "ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.98.0.0/24"}]]}},
  {"type":"portmap","capabilities":{"portMappings":true}}]}`, name, bridge, n.IPAMDir)
	if err := os.WriteFile(filepath.Join(d.Dir, "cni/net.d/10-"+name+".conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The daemon looks for plugins in its configured bin dir.
	for _, p := range cniPlugins {
		if err := os.Symlink(filepath.Join("/opt/cni/bin", p), filepath.Join(d.Dir, "cni/bin", p)); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/test/internal/crisptest"
)

// podNetworkDaemon starts a daemon in a private network namespace with a
// bridge pod network whose leases live under the test's temp dir; extraTOML
// is added to its config.
func podNetworkDaemon(t *testing.T, extraTOML string) (*daemon, string) {
	t.Helper()
	d := newDaemon(t, extraTOML)
	d.PrivateNetwork = true
	network := crisptest.SetupPodNetwork(t, d, "crisp-it", "crispit0")
	d.Start(t)
	return d, network.IPAMDir
}

func TestCrictlPodLifecycle(t *testing.T) {
	d, ipam := podNetworkDaemon(t, "")
	if out := crictl(t, d, "info"); !strings.Contains(out, `"type": "NetworkReady",`+"\n"+`          "status": true`) &&
		!networkReady(t, out) {
		t.Fatalf("NetworkReady is not true with a CNI config:\n%s", out)
	}

	podJSON := filepath.Join(d.Dir, "pod.json")
	pod := `{"metadata":{"name":"it-pod","namespace":"default","uid":"it-uid-1","attempt":0},
	         "hostname":"it-pod","log_directory":"/tmp","linux":{}}`
	if err := os.WriteFile(podJSON, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(crictl(t, d, "runp", podJSON))
	if len(id) != 64 {
		t.Fatalf("runp printed %q, want a pod id", id)
	}

	if out := crictl(t, d, "pods", "-q"); strings.TrimSpace(out) != id {
		t.Errorf("crictl pods -q = %q, want %s", out, id)
	}
	if out := crictl(t, d, "pods", "--name", "it-pod", "--state", "ready", "-q"); strings.TrimSpace(out) != id {
		t.Errorf("filtered pods = %q", out)
	}

	var status struct {
		Status struct {
			State   string `json:"state"`
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(crictl(t, d, "inspectp", id)), &status); err != nil {
		t.Fatal(err)
	}
	if status.Status.State != "SANDBOX_READY" || !strings.HasPrefix(status.Status.Network.IP, "10.98.0.") || status.Status.Metadata.Name != "it-pod" {
		t.Errorf("inspectp = %+v", status.Status)
	}

	var stats struct {
		Stats []struct {
			Attributes struct {
				ID string `json:"id"`
			} `json:"attributes"`
			Linux struct {
				CPU struct {
					UsageCoreNanoSeconds *struct{} `json:"usageCoreNanoSeconds"`
				} `json:"cpu"`
				Network struct {
					DefaultInterface struct {
						Name string `json:"name"`
					} `json:"defaultInterface"`
				} `json:"network"`
			} `json:"linux"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(crictl(t, d, "statsp", "-o", "json", "--id", id)), &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats.Stats) != 1 || stats.Stats[0].Attributes.ID != id || stats.Stats[0].Linux.Network.DefaultInterface.Name != "eth0" ||
		stats.Stats[0].Linux.CPU.UsageCoreNanoSeconds == nil {
		t.Errorf("crictl statsp = %+v", stats)
	}

	checkPodResourceUpdate(t, d, id)

	crictl(t, d, "stopp", id)
	crictl(t, d, "stopp", id)
	if out := crictl(t, d, "pods", "--state", "notready", "-q"); strings.TrimSpace(out) != id {
		t.Errorf("stopped pod not listed as not ready: %q", out)
	}
	crictl(t, d, "rmp", id)
	if out := crictl(t, d, "pods", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("pods after rmp: %q", out)
	}
	leases, _ := os.ReadDir(filepath.Join(ipam, "crisp-it"))
	for _, l := range leases {
		if l.Name() != "lock" && !strings.HasPrefix(l.Name(), "last_reserved_ip") {
			t.Errorf("lease left after rmp: %s", l.Name())
		}
	}
	pins, _ := filepath.Glob(filepath.Join(d.Dir, "state", "ns", "*", "*"))
	if len(pins) != 0 {
		t.Errorf("pins left after rmp: %v", pins)
	}
}

func networkReady(t *testing.T, info string) bool {
	t.Helper()
	var v struct {
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status bool   `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(info), &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Status.Conditions {
		if c.Type == "NetworkReady" {
			return c.Status
		}
	}
	return false
}

// checkPodResourceUpdate resizes the pod's memory. Where the hierarchy has
// the memory controller the pod cgroup gets the limit; where it lacks it
// (this daemon runs with missing_controller = "warn"), Status must say the
// limit was skipped.
func checkPodResourceUpdate(t *testing.T, d *daemon, id string) {
	t.Helper()
	c := d.Client(t)
	const limit = 256 << 20
	_, err := c.UpdatePodSandboxResources(ctx(t), &runtimeapi.UpdatePodSandboxResourcesRequest{
		PodSandboxId: id,
		Resources:    &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: limit},
	})
	if err != nil {
		t.Fatalf("UpdatePodSandboxResources: %v", err)
	}
	mount := crisptest.CgroupMount(t)
	controllers, _ := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if strings.Contains(string(controllers), "memory") {
		got, err := os.ReadFile(filepath.Join(mount, "crisp", "pod-"+id, "memory.max"))
		if err != nil || strings.TrimSpace(string(got)) != fmt.Sprint(limit) {
			t.Errorf("pod memory.max = %q, %v; want %d", got, err, limit)
		}
		return
	}
	st, err := c.Status(ctx(t), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var cg struct {
		Skipped []string `json:"skippedControllers"`
	}
	if err := json.Unmarshal([]byte(st.Info["cgroup"]), &cg); err != nil {
		t.Fatalf("status info cgroup %q: %v", st.Info["cgroup"], err)
	}
	if !slices.Contains(cg.Skipped, "memory") {
		t.Errorf("Status does not report the skipped memory controller: %s", st.Info["cgroup"])
	}
}

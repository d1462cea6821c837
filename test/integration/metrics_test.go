package integration

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series returns the series of family name carrying every label of want.
func metricSeries(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
next:
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func rpcCount(fams map[string]*dto.MetricFamily, method string) uint64 {
	return metricSeries(fams, "crisp_grpc_request_duration_seconds", map[string]string{"method": method}).GetHistogram().GetSampleCount()
}

// Scrapes of the endpoint during a churn of pods and containers show the
// RPC histograms, the pod and container gauges and the start latencies
// moving with each cycle, and failures counted under their code.
func TestMetricsEndpointDuringPodChurn(t *testing.T) {
	port := freePort(t)
	d := newDaemon(t, fmt.Sprintf("[metrics]\naddress = \"127.0.0.1:%d\"\n", port))
	d.Start(t, "--cgroup-driver", "cgroupfs")
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	ref := loadBusybox(t, d)
	c := d.Client(t)

	before := scrapeMetrics(t, url)
	for _, name := range []string{"crisp_pods", "crisp_containers", "go_goroutines", "process_resident_memory_bytes"} {
		if before[name] == nil {
			t.Errorf("no %s before any pod", name)
		}
	}
	const cycles = 3
	for i := range cycles {
		podCfg := &runtimeapi.PodSandboxConfig{
			Metadata:     &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("churn-%d", i), Namespace: "default", Uid: fmt.Sprintf("churn-uid-%d", i)},
			LogDirectory: filepath.Join(d.Dir, "logs", fmt.Sprint(i)),
			Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			}},
		}
		pod, err := c.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: podCfg})
		if err != nil {
			t.Fatal(err)
		}
		ctr, err := c.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{
			PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg,
			Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: "sleeper"},
				Image:    &runtimeapi.ImageSpec{Image: ref},
				Command:  []string{"sleep", "1000"},
				LogPath:  "sleeper.log",
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.StartContainer(ctx(t), &runtimeapi.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
			t.Fatal(err)
		}

		mid := scrapeMetrics(t, url)
		if got, want := rpcCount(mid, "RunPodSandbox"), rpcCount(before, "RunPodSandbox")+uint64(i)+1; got != want {
			t.Errorf("cycle %d: RunPodSandbox samples = %d, want %d", i, got, want)
		}
		if v := metricSeries(mid, "crisp_pods", map[string]string{"state": "ready"}).GetGauge().GetValue(); v != 1 {
			t.Errorf("cycle %d: crisp_pods{ready} = %v with one pod up", i, v)
		}
		if v := metricSeries(mid, "crisp_containers", map[string]string{"state": "running"}).GetGauge().GetValue(); v != 1 {
			t.Errorf("cycle %d: crisp_containers{running} = %v with one container up", i, v)
		}
		if n := metricSeries(mid, "crisp_container_start_duration_seconds", map[string]string{"result": "success"}).GetHistogram().GetSampleCount(); n != uint64(i)+1 {
			t.Errorf("cycle %d: %d container starts timed, want %d", i, n, i+1)
		}

		if _, err := c.StopPodSandbox(ctx(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RemovePodSandbox(ctx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.PodSandboxStatus(ctx(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "no-such-pod"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("status of an unknown pod: %v", err)
	}

	after := scrapeMetrics(t, url)
	for _, method := range []string{"RunPodSandbox", "CreateContainer", "StartContainer", "StopPodSandbox", "RemovePodSandbox"} {
		if got, want := rpcCount(after, method), rpcCount(before, method)+cycles; got != want {
			t.Errorf("%s samples %d -> %d, want +%d", method, rpcCount(before, method), got, cycles)
		}
	}
	if v := metricSeries(after, "crisp_pods", map[string]string{"state": "ready"}).GetGauge().GetValue(); v != 0 {
		t.Errorf("crisp_pods{ready} = %v after the churn, want 0", v)
	}
	notFound := metricSeries(after, "crisp_grpc_errors_total", map[string]string{"method": "PodSandboxStatus", "code": "NotFound"})
	if notFound.GetCounter().GetValue() != 1 {
		t.Errorf("PodSandboxStatus NotFound errors = %v, want 1", notFound)
	}
}

// Without [metrics] address the daemon serves no endpoint.
func TestMetricsEndpointIsOffByDefault(t *testing.T) {
	d := newDaemon(t, "")
	d.Start(t, "--cgroup-driver", "cgroupfs")
	if _, err := d.Client(t).Version(ctx(t), &runtimeapi.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	if log := d.Log(); strings.Contains(log, "Serving Prometheus metrics") {
		t.Errorf("a daemon without [metrics] address serves metrics:\n%s", log)
	}
}

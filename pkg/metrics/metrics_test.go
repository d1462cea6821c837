package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// scrape fetches the endpoint over HTTP and parses what it serves.
func scrape(t *testing.T, addr net.Addr) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// find returns the series of family name whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
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

func histogramCount(fams map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	if m := find(fams, name, labels); m != nil {
		return m.GetHistogram().GetSampleCount()
	}
	return 0
}

func serveEndpoint(t *testing.T, m *Metrics) net.Addr {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// gRPC calls through the interceptors move the latency histogram of their
// method, failures count under their code, and a scrape over HTTP shows
// both.
func TestEndpointShowsRPCHistogramsMoving(t *testing.T) {
	m := New()
	addr := serveEndpoint(t, m)

	sock := filepath.Join(t.TempDir(), "grpc.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(m.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := healthpb.NewHealthClient(conn)

	check := map[string]string{"service": "grpc.health.v1.Health", "method": "Check"}
	before := histogramCount(scrape(t, addr), "crisp_grpc_request_duration_seconds", check)
	for range 3 {
		if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "no-such-service"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Check of an unknown service: %v, want NotFound", err)
	}
	fams := scrape(t, addr)
	if after := histogramCount(fams, "crisp_grpc_request_duration_seconds", check); after != before+4 {
		t.Errorf("Check latency samples %d -> %d, want +4", before, after)
	}
	errs := find(fams, "crisp_grpc_errors_total", map[string]string{"method": "Check", "code": "NotFound"})
	if errs.GetCounter().GetValue() != 1 {
		t.Errorf("errors_total{Check,NotFound} = %v, want 1", errs)
	}
	if find(fams, "crisp_grpc_errors_total", map[string]string{"method": "Check", "code": "OK"}) != nil {
		t.Error("successful calls are counted as errors")
	}
	// The Go runtime's and the process's own metrics are there too.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

// Pod and container gauges are counted at each scrape, so they follow the
// managers without bookkeeping of their own.
func TestInventoryIsCountedAtScrape(t *testing.T) {
	m := New()
	pods := map[string]int{"ready": 2, "notready": 0}
	if err := m.RegisterInventory(func() map[string]int { return pods }, func() map[string]int { return map[string]int{"running": 5} }); err != nil {
		t.Fatal(err)
	}
	addr := serveEndpoint(t, m)
	fams := scrape(t, addr)
	if v := find(fams, "crisp_pods", map[string]string{"state": "ready"}).GetGauge().GetValue(); v != 2 {
		t.Errorf("crisp_pods{ready} = %v, want 2", v)
	}
	if v := find(fams, "crisp_containers", map[string]string{"state": "running"}).GetGauge().GetValue(); v != 5 {
		t.Errorf("crisp_containers{running} = %v, want 5", v)
	}
	pods["ready"] = 1
	if v := find(scrape(t, addr), "crisp_pods", map[string]string{"state": "ready"}).GetGauge().GetValue(); v != 1 {
		t.Errorf("crisp_pods{ready} after one stopped = %v, want 1", v)
	}
}

func TestPullStartAndCNIObservations(t *testing.T) {
	m := New()
	m.ObservePull(1000, 2*time.Second, nil)
	m.ObservePull(500, time.Second, errors.New("registry gone"))
	m.ObserveStart(30*time.Millisecond, nil)
	m.ObserveCNI("ADD", 40*time.Millisecond, nil)
	m.ObserveCNI("DEL", 10*time.Millisecond, fmt.Errorf("plugin failed"))
	fams := scrape(t, serveEndpoint(t, m))
	if v := fams["crisp_image_pull_bytes_total"].GetMetric()[0].GetCounter().GetValue(); v != 1500 {
		t.Errorf("pull bytes = %v, want 1500", v)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		sum    float64
	}{
		{"crisp_image_pull_duration_seconds", map[string]string{"result": "success"}, 2},
		{"crisp_image_pull_duration_seconds", map[string]string{"result": "failure"}, 1},
		{"crisp_container_start_duration_seconds", map[string]string{"result": "success"}, 0.03},
		{"crisp_cni_duration_seconds", map[string]string{"operation": "ADD", "result": "success"}, 0.04},
		{"crisp_cni_duration_seconds", map[string]string{"operation": "DEL", "result": "failure"}, 0.01},
	} {
		h := find(fams, tc.name, tc.labels).GetHistogram()
		if h.GetSampleCount() != 1 || h.GetSampleSum() != tc.sum {
			t.Errorf("%s%v = %d samples, sum %v; want 1, %v", tc.name, tc.labels, h.GetSampleCount(), h.GetSampleSum(), tc.sum)
		}
	}
}

func TestServeRefusesABusyAddress(t *testing.T) {
	addr := serveEndpoint(t, New())
	if _, err := New().Serve(context.Background(), addr.String()); err == nil {
		t.Errorf("a second endpoint on %s started", addr)
	}
}

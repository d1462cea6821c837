package cri

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
)

type networkStatus struct{ err error }

func (n networkStatus) Status() error { return n.err }

func newTestService(t *testing.T, net NetworkStatus) (*RuntimeService, runtimeapi.RuntimeServiceClient) {
	cfg := config.Default()
	cfg.Cgroup.Driver = config.CgroupDriverCgroupfs
	rs := NewRuntimeService(cfg, RuntimeDeps{Network: net})
	return rs, serve(t, rs)
}

func TestVersion(t *testing.T) {
	_, c := newTestService(t, networkStatus{})
	v, err := c.Version(background(t), &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "crisp" || v.RuntimeApiVersion != "v1" || v.RuntimeVersion == "" || v.Version != "0.1.0" {
		t.Errorf("unexpected version: %+v", v)
	}
}

func condition(t *testing.T, st *runtimeapi.StatusResponse, typ string) *runtimeapi.RuntimeCondition {
	t.Helper()
	for _, c := range st.GetStatus().GetConditions() {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("no %s condition in %v", typ, st)
	return nil
}

func TestStatusConditionsFollowTheNetwork(t *testing.T) {
	confDir := t.TempDir()
	binDir := t.TempDir()
	_, c := newTestService(t, network.NewManager(confDir, []string{binDir}, t.TempDir()))
	ctx := background(t)

	st, err := c.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !condition(t, st, runtimeapi.RuntimeReady).Status {
		t.Error("RuntimeReady is false")
	}
	nr := condition(t, st, runtimeapi.NetworkReady)
	if nr.Status || nr.Reason != "NetworkPluginNotReady" {
		t.Errorf("NetworkReady without config = %+v, want false/NetworkPluginNotReady", nr)
	}

	// A config whose plugin is not installed is still not ready.
	conf := `{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"loopback"}]}`
	if err := os.WriteFile(filepath.Join(confDir, "10-podnet.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Status(ctx, &runtimeapi.StatusRequest{})
	if nr := condition(t, st, runtimeapi.NetworkReady); nr.Status || !strings.Contains(nr.Message, "loopback") {
		t.Errorf("NetworkReady with missing plugin = %+v, want false naming the plugin", nr)
	}

	if err := os.WriteFile(filepath.Join(binDir, "loopback"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Status(ctx, &runtimeapi.StatusRequest{})
	if nr := condition(t, st, runtimeapi.NetworkReady); !nr.Status {
		t.Errorf("NetworkReady with config and plugin = %+v, want true", nr)
	}
}

// kubelet sends supplemental_groups_policy only to a runtime that says it
// honours it.
func TestStatusAdvertisesSupplementalGroupsPolicy(t *testing.T) {
	_, c := newTestService(t, networkStatus{})
	st, err := c.Status(background(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.GetFeatures().GetSupplementalGroupsPolicy() {
		t.Errorf("features = %v, want supplemental_groups_policy", st.GetFeatures())
	}
}

// kubelet asks for recursive read-only mounts only from a runtime handler
// that says it can make them; every kernel crisp's tests run on has
// mount_setattr.
func TestStatusAdvertisesRecursiveReadOnlyMounts(t *testing.T) {
	_, c := newTestService(t, networkStatus{})
	st, err := c.Status(background(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if hs := st.GetRuntimeHandlers(); len(hs) != 1 || !hs[0].GetFeatures().GetRecursiveReadOnlyMounts() {
		t.Errorf("runtime handlers = %v, want the default one with recursive_read_only_mounts", hs)
	}
}

func TestStatusVerboseCarriesConfig(t *testing.T) {
	_, c := newTestService(t, networkStatus{err: errors.New("none")})
	st, err := c.Status(background(t), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Config
	if err := json.Unmarshal([]byte(st.Info["config"]), &cfg); err != nil {
		t.Fatalf("info[config] is not the config as JSON: %v", err)
	}
	if cfg.Root != "/var/lib/crisp" || cfg.Cgroup.Driver != "cgroupfs" {
		t.Errorf("info[config] = %+v", cfg)
	}
	if st2, _ := c.Status(background(t), &runtimeapi.StatusRequest{}); len(st2.Info) != 0 {
		t.Errorf("non-verbose Status returned info %v", st2.Info)
	}
}

func TestRuntimeConfigReportsDriver(t *testing.T) {
	for _, tt := range []struct {
		driver string
		want   runtimeapi.CgroupDriver
	}{
		{config.CgroupDriverCgroupfs, runtimeapi.CgroupDriver_CGROUPFS},
		{config.CgroupDriverSystemd, runtimeapi.CgroupDriver_SYSTEMD},
	} {
		cfg := config.Default()
		cfg.Cgroup.Driver = tt.driver
		c := serve(t, NewRuntimeService(cfg, RuntimeDeps{Network: networkStatus{}}))
		rc, err := c.RuntimeConfig(background(t), &runtimeapi.RuntimeConfigRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := rc.GetLinux().GetCgroupDriver(); got != tt.want {
			t.Errorf("driver %s reported as %v, want %v", tt.driver, got, tt.want)
		}
	}
}

func TestUpdateRuntimeConfigKeepsPodCIDR(t *testing.T) {
	rs, c := newTestService(t, networkStatus{})
	ctx := background(t)
	update := func(cidr string) error {
		_, err := c.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{
			RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}},
		})
		return err
	}
	if err := update("10.88.0.0/16,fd00:88::/64"); err != nil {
		t.Fatal(err)
	}
	if err := update(""); err != nil { // empty keeps the value
		t.Fatal(err)
	}
	for _, bad := range []string{"10.88.0.0/33", "10.88.0.0/16\n", "10.88.0.0/16,\x00"} {
		err := update(bad)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "pod_cidr") {
			t.Errorf("bad CIDR %q: %v, want InvalidArgument naming pod_cidr", bad, err)
		}
	}
	if rs.podCIDR != "10.88.0.0/16,fd00:88::/64" {
		t.Errorf("pod CIDR = %q", rs.podCIDR)
	}
	st, _ := c.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if !strings.Contains(st.Info["network"], "10.88.0.0/16") {
		t.Errorf("Status info does not report the pod CIDR: %v", st.Info["network"])
	}
}

// A state filter that names no state is refused before anything is listed.
func TestListFiltersRefuseUnknownStates(t *testing.T) {
	_, c := newTestService(t, networkStatus{})
	ctx := background(t)
	_, err := c.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: 99}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "filter.state") {
		t.Errorf("ListPodSandbox with state 99: %v, want InvalidArgument naming filter.state", err)
	}
	_, err = c.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: 99}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "filter.state") {
		t.Errorf("ListContainers with state 99: %v, want InvalidArgument naming filter.state", err)
	}
}

// user_namespaces is advertised only when the kernel has what pods with
// their own user namespace need; without it such a pod is refused, naming
// what is missing, before anything is made.
func TestStatusAdvertisesUserNamespacesOnlyWhenSupported(t *testing.T) {
	missing := errors.New("no idmapped layers here")
	for _, tc := range []struct {
		name  string
		probe func() error
		want  bool
	}{
		{"supported", func() error { return nil }, true},
		{"unsupported", func() error { return missing }, false},
		{"not probed", nil, false},
	} {
		cfg := config.Default()
		cfg.Cgroup.Driver = config.CgroupDriverCgroupfs
		rs := NewRuntimeService(cfg, RuntimeDeps{Network: networkStatus{}, UserNamespaces: tc.probe})
		c := serve(t, rs)
		st, err := c.Status(background(t), &runtimeapi.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.GetRuntimeHandlers()[0].GetFeatures().GetUserNamespaces(); got != tc.want {
			t.Errorf("%s: user_namespaces %v, want %v", tc.name, got, tc.want)
		}
		if tc.want {
			continue
		}
		cfgPod := validPodConfig()
		cfgPod.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_POD
		cfgPod.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_CONTAINER
		cfgPod.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{
			Mode: runtimeapi.NamespaceMode_POD, Uids: usernsMaps(1 << 20), Gids: usernsMaps(1 << 20)}
		// No sandboxes: the refusal comes before the pod is asked for.
		_, err = rs.RunPodSandbox(background(t), &runtimeapi.RunPodSandboxRequest{Config: cfgPod})
		if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "userns_options") {
			t.Errorf("%s: RunPodSandbox of a user-namespaced pod: %v, want not implemented naming userns_options", tc.name, err)
		}
	}
}

package integration

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// crictl runs crictl against d and returns its stdout.
func crictl(t *testing.T, d *daemon, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("crictl")
	if err != nil {
		t.Skip("needs crictl on PATH (hack/install-tools.sh installs it)")
	}
	cmd := exec.Command(path, append([]string{"--runtime-endpoint", "unix://" + d.Socket, "--image-endpoint", "unix://" + d.Socket}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("crictl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func TestCrictlVersionAndInfo(t *testing.T) {
	d := newDaemon(t, "")
	d.Start(t, "--cgroup-driver", "systemd")

	v := crictl(t, d, "version")
	for _, want := range []string{"RuntimeName:  crisp", "RuntimeApiVersion:  v1"} {
		if !strings.Contains(v, want) {
			t.Errorf("crictl version lacks %q:\n%s", want, v)
		}
	}

	var info struct {
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status bool   `json:"status"`
				Reason string `json:"reason"`
			} `json:"conditions"`
		} `json:"status"`
		Config struct {
			Cgroup struct {
				Driver string `json:"driver"`
			} `json:"cgroup"`
		} `json:"config"`
	}
	out := crictl(t, d, "info", "-o", "json")
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("crictl info is not JSON: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, c := range info.Status.Conditions {
		got[c.Type] = c.Status
		if c.Type == "NetworkReady" && c.Reason != "NetworkPluginNotReady" {
			t.Errorf("NetworkReady reason %q", c.Reason)
		}
	}
	if !got["RuntimeReady"] || got["NetworkReady"] {
		t.Errorf("conditions %v, want RuntimeReady true and NetworkReady false", got)
	}
	if info.Config.Cgroup.Driver != "systemd" {
		t.Errorf("crictl info does not show the effective config (cgroup.driver %q):\n%s", info.Config.Cgroup.Driver, out)
	}
}

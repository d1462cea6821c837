package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// TestCDIDevice gives a container a Darwin accelerator board described by a
// CDI spec, its device node a stand-in (the host's /dev/null numbers): the
// node, its cgroup rule and the spec's environment reach the container, by
// config.cdi_devices and by a device plugin's annotation. A device no spec
// names fails the container, naming it.
func TestCDIDevice(t *testing.T) {
	e := newEnv(t)
	hostDir := t.TempDir()
	node := filepath.Join(hostDir, "darwin-accel0")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	specDir := t.TempDir()
	spec := `cdiVersion: "0.6.0"
kind: "darwin.example/accelerator"
devices:
  - name: "board0"
    containerEdits:
      deviceNodes:
        - path: /dev/darwin-accel0
          hostPath: ` + node + `
      env:
        - DARWIN_ACCELERATOR=board0
`
	if err := os.WriteFile(filepath.Join(specDir, "darwin.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cdiDirs = []string{specDir}
	e.open(t)
	sb := e.pod(t, "cdi", sandbox.ModeContainer)
	const script = "ls -l /dev/darwin-accel0 | cut -c1; echo $DARWIN_ACCELERATOR; echo x > /dev/darwin-accel0 && echo writable"

	byField := config("byfield", script)
	byField.CDIDevices = []*runtimeapi.CDIDevice{{Name: "darwin.example/accelerator=board0"}}
	byAnnotation := config("byannotation", script)
	byAnnotation.Annotations = map[string]string{"cdi.k8s.io/darwin-plugin_board0": "darwin.example/accelerator=board0"}
	for _, cfg := range []*runtimeapi.ContainerConfig{byField, byAnnotation} {
		c := e.run(t, sb, cfg)
		e.waitExited(t, c.ID)
		var got []string
		for _, line := range readLog(t, c.LogPath) {
			if f := strings.SplitN(line, " ", 4); len(f) == 4 {
				got = append(got, f[3])
			}
		}
		if strings.Join(got, "|") != "c|board0|writable" {
			t.Errorf("%s: container saw %q, want the device node, its environment and a write allowed", cfg.Metadata.Name, got)
		}
	}

	missing := config("missing", script)
	missing.CDIDevices = []*runtimeapi.CDIDevice{{Name: "darwin.example/accelerator=board9"}}
	_, err := e.m.Create(context.Background(), sb.ID, missing)
	var fe *errdefs.FieldError
	if !errors.As(err, &fe) || fe.Field != "cdi_devices" || !strings.Contains(err.Error(), "board9") {
		t.Errorf("an unknown CDI device: %v, want a field error on cdi_devices naming it", err)
	}
	// The refused create leaves no record and frees its name.
	if n := len(e.m.List()); n != 2 {
		t.Errorf("%d containers after the refused create, want the 2 that ran", n)
	}
	missing.CDIDevices = []*runtimeapi.CDIDevice{{Name: "darwin.example/accelerator=board0"}}
	e.create(t, sb, missing)
	bad := config("bad", script)
	bad.CDIDevices = []*runtimeapi.CDIDevice{{Name: "not a device"}}
	if _, err := e.m.Create(context.Background(), sb.ID, bad); !errors.As(err, &fe) || fe.Field != "cdi_devices[0].name" {
		t.Errorf("a malformed CDI device name: %v, want a field error on cdi_devices[0].name", err)
	}
}

// TestDeployCDISpecIsValid: the example spec shipped in deploy/ is one the
// CDI library loads, with both boards.
func TestDeployCDISpecIsValid(t *testing.T) {
	data, err := os.ReadFile("../../deploy/cdi/darwin-accelerator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "darwin-accelerator.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dir), cdi.WithAutoRefresh(false))
	if err != nil {
		t.Fatalf("the example spec does not load: %v", err)
	}
	got := strings.Join(cache.ListDevices(), " ")
	if got != "darwin.example/accelerator=board0 darwin.example/accelerator=board1" {
		t.Errorf("example spec's devices: %s", got)
	}
}

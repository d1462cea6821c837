package nri

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	api "github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// FuzzApplyAdjustment feeds applyAdjustment what a plugin may send: an
// accepted adjustment leaves a spec whose mounts, environment, arguments,
// devices and hooks the executor reads as they are meant; a refused one is
// InvalidArgument (or the CDI injector's own error).
func FuzzApplyAdjustment(f *testing.F) {
	for _, a := range seedAdjustments(f.TempDir()) {
		data, err := proto.Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := &api.ContainerAdjustment{}
		if err := proto.Unmarshal(data, a); err != nil {
			return
		}
		s := baseSpec()
		err := applyAdjustment(s, a, noCDI)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) && !strings.Contains(err.Error(), "no CDI in this test") {
				t.Fatalf("refusal is not InvalidArgument: %v", err)
			}
			return
		}
		for _, m := range s.Mounts {
			if !filepath.IsAbs(m.Destination) || filepath.Clean(m.Destination) != m.Destination {
				t.Errorf("accepted mount destination %q", m.Destination)
			}
		}
		for _, e := range s.Process.Env {
			key, _, ok := strings.Cut(e, "=")
			if !ok || key == "" || strings.IndexByte(e, 0) >= 0 {
				t.Errorf("accepted environment entry %q", e)
			}
		}
		for _, arg := range s.Process.Args {
			if strings.IndexByte(arg, 0) >= 0 {
				t.Errorf("accepted argument %q", arg)
			}
		}
		for _, d := range s.Linux.Devices {
			if !strings.HasPrefix(d.Path, "/dev/") || filepath.Clean(d.Path) != d.Path {
				t.Errorf("accepted device %q", d.Path)
			}
		}
		if s.Hooks != nil {
			for _, h := range s.Hooks.Poststop {
				if !filepath.IsAbs(h.Path) {
					t.Errorf("accepted hook %q", h.Path)
				}
			}
		}
		if _, err := json.Marshal(s); err != nil {
			t.Errorf("accepted spec does not encode: %v", err)
		}
	})
}

// seedAdjustments are adjustments of each kind, accepted and refused.
func seedAdjustments(dir string) []*api.ContainerAdjustment {
	var out []*api.ContainerAdjustment
	add := func(fn func(a *api.ContainerAdjustment)) {
		a := &api.ContainerAdjustment{}
		fn(a)
		out = append(out, a)
	}
	add(func(a *api.ContainerAdjustment) { a.AddEnv("A", "b"); a.RemoveEnv("DROP") })
	add(func(a *api.ContainerAdjustment) {
		a.AddMount(&api.Mount{Destination: "/data", Source: dir, Type: "bind", Options: []string{"rbind", "ro"}})
		a.RemoveMount("/dev/shm")
	})
	add(func(a *api.ContainerAdjustment) { a.AddMount(&api.Mount{Destination: "/a/../b", Source: "x"}) })
	add(func(a *api.ContainerAdjustment) { a.SetArgs([]string{"sh", "-c", "true"}) })
	add(func(a *api.ContainerAdjustment) {
		a.AddDevice(&api.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229})
	})
	add(func(a *api.ContainerAdjustment) { a.AddHooks(&api.Hooks{Poststop: []*api.Hook{{Path: "/bin/true"}}}) })
	add(func(a *api.ContainerAdjustment) {
		a.SetLinuxCPUQuota(1000)
		a.SetLinuxMemoryLimit(1 << 20)
		a.AddLinuxUnified("memory.high", "1000000")
	})
	add(func(a *api.ContainerAdjustment) { a.AddRlimit("RLIMIT_NOFILE", 10, 5) })
	add(func(a *api.ContainerAdjustment) { a.SetLinuxRDTClass("gold") })
	add(func(a *api.ContainerAdjustment) { a.AddCDIDevice(&api.CDIDevice{Name: "vendor.com/gpu=0"}) })
	return out
}

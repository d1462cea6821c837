package container

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// Container bundles are private to root even under a umask of 0, and a
// container whose process runs as another user still starts through them
// and joins its pod.
func TestContainerStateIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	e := newEnv(t)
	sb := e.pod(t, "private", sandbox.ModeContainer)
	cfg := config("user", "id -u; cat /etc/hostname")
	cfg.Linux.SecurityContext.RunAsUser = &runtimeapi.Int64Value{Value: 1000}
	c := e.create(t, sb, cfg)
	bundles := filepath.Join(e.state, "containers")
	err := filepath.WalkDir(bundles, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()
		if mode&0o022 != 0 {
			t.Errorf("%s (mode %#o) is writable by group or others", path, mode)
		}
		if d.IsDir() && mode&0o007 != 0 {
			t.Errorf("directory %s (mode %#o) is open to others", path, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.waitExited(t, c.ID); got.ExitCode != 0 {
		t.Fatalf("exit code %d", got.ExitCode)
	}
	lines := readLog(t, e.m.mustGet(t, "user").LogPath)
	var out []string
	for _, l := range lines {
		f := strings.SplitN(l, " ", 4)
		out = append(out, f[len(f)-1])
	}
	if strings.Join(out, ",") != "1000,private" {
		t.Errorf("container printed %q, want its uid 1000 and the pod's hostname", out)
	}
}

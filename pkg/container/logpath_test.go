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

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// listTree returns every path below dir, relative to it.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestPrepareLogPathStaysInsideTheLogDirectory(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "pods", "ns_p_uid")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{logDir, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	victim := filepath.Join(outside, "victim.log")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Planted by whoever can write in the log directory.
	if err := os.Symlink(outside, filepath.Join(logDir, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(logDir, "link.log")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(logDir, "fifo.log"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(logDir, "dir.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, rel, field string
	}{
		{"traversal", logDir, "../../../../outside/x.log", "log_path"},
		{"traversal inside a name", logDir, "web/../../x.log", "log_path"},
		{"absolute", logDir, "/etc/x.log", "log_path"},
		{"NUL", logDir, "web/0.log\x00", "log_path"},
		{"symlinked directory", logDir, "evil/x.log", "log_path"},
		{"symlinked deeper directory", logDir, "evil/sub/x.log", "log_path"},
		{"symlinked file", logDir, "link.log", "log_path"},
		{"FIFO", logDir, "fifo.log", "log_path"},
		{"directory", logDir, "dir.log", "log_path"},
		{"relative log directory", "pods/ns_p_uid", "web/0.log", "log_directory"},
		{"unclean log directory", logDir + "/../ns_p_uid", "web/0.log", "log_directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, handle, err := prepareLogPath(tt.dir, tt.rel)
			if handle != nil {
				handle.Close()
			}
			var fe *errdefs.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("prepareLogPath(%q, %q): %v, want a field error naming %s", tt.dir, tt.rel, err, tt.field)
			}
		})
	}
	if got := listTree(t, outside); len(got) != 1 || got[0] != "victim.log" {
		t.Errorf("outside the log directory: %v, want only victim.log", got)
	}
	if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
		t.Errorf("victim changed: %q", data)
	}
	if got := strings.Join(listTree(t, logDir), " "); got != "dir.log evil fifo.log link.log" {
		t.Errorf("log directory holds %s, want only what the test made", got)
	}

	// A valid path gets its directories, not its file: the monitor makes it.
	path, handle, err := prepareLogPath(logDir, "web/0.log")
	if err != nil || path != filepath.Join(logDir, "web", "0.log") {
		t.Fatalf("prepareLogPath(web/0.log) = %q, %v", path, err)
	}
	handle.Close()
	if fi, err := os.Lstat(filepath.Join(logDir, "web")); err != nil || !fi.IsDir() {
		t.Errorf("web not made as a directory: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log file made before the monitor opens it: %v", err)
	}
	// An existing regular file is fine: a restarted container appends.
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, handle, err := prepareLogPath(logDir, "web/0.log"); err != nil {
		t.Errorf("existing log file: %v", err)
	} else {
		handle.Close()
	}
	// A log directory that does not exist yet is made.
	fresh := filepath.Join(base, "fresh")
	if _, handle, err := prepareLogPath(fresh, "0.log"); err != nil {
		t.Errorf("missing log directory: %v", err)
	} else {
		handle.Close()
	}
}

func TestValidateRefusesEscapingLogPath(t *testing.T) {
	cfg := validConfigForLogPath("../../../../etc/x.log")
	var fe *errdefs.FieldError
	if err := validate(cfg); !errors.As(err, &fe) || fe.Field != "log_path" {
		t.Errorf("validate: %v, want a field error naming log_path", err)
	}
	if err := validate(validConfigForLogPath("web/0.log")); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func validConfigForLogPath(logPath string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "web"},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		LogPath:  logPath,
	}
}

// A log path that would leave the pod's log directory fails Create with
// nothing made, inside the log directory or out of it, and frees the name.
func TestCreateWithEscapingLogPathLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "logs", sandbox.ModeContainer)
	outside := t.TempDir()
	if err := os.MkdirAll(sb.Spec.LogDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(sb.Spec.LogDirectory, "evil")); err != nil {
		t.Fatal(err)
	}
	traversal, err := filepath.Rel(sb.Spec.LogDirectory, filepath.Join(outside, "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, logPath := range []string{traversal, "/etc/crisp-hostile.log", "evil/x.log", "evil/sub/x.log"} {
		cfg := config("web", "true")
		cfg.LogPath = logPath
		_, err := e.m.Create(ctx, sb.ID, cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "log_path") {
			t.Errorf("Create with log path %q: %v, want invalid argument naming log_path", logPath, err)
		}
	}
	if got := listTree(t, outside); len(got) != 0 {
		t.Errorf("made outside the log directory: %v", got)
	}
	if _, err := os.Lstat("/etc/crisp-hostile.log"); !errors.Is(err, os.ErrNotExist) {
		os.Remove("/etc/crisp-hostile.log")
		t.Errorf("/etc/crisp-hostile.log was made: %v", err)
	}
	if got := listTree(t, sb.Spec.LogDirectory); len(got) != 1 || got[0] != "evil" {
		t.Errorf("log directory holds %v, want only the planted symlink", got)
	}
	assertNothingLeft(t, e)
	// The name is free again.
	c := e.create(t, sb, config("web", "true"))
	if c.LogPath != filepath.Join(sb.Spec.LogDirectory, "web.log") {
		t.Errorf("log path %q", c.LogPath)
	}
}

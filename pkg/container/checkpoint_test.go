package container

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// requireCRIU skips a test where CRIU cannot work.
func requireCRIU(t *testing.T) {
	t.Helper()
	path, err := exec.LookPath("criu")
	if err != nil {
		t.Skip("needs criu (Debian's criu package); hack/vm's qemu guest has it")
	}
	if out, err := exec.Command(path, "check").CombinedOutput(); err != nil {
		t.Skipf("needs a kernel that `criu check` accepts (the qemu guest: hack/vm/vm-test.sh go-test --qemu): %v: %.200s", err, out)
	}
}

// untar extracts the regular files of a tar archive into dir and returns
// their names.
func untar(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimPrefix(h.Name, "./"))
		if h.Typeflag != tar.TypeReg {
			continue
		}
		dst := filepath.Join(dir, filepath.Clean("/"+h.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// CheckpointContainer's archive has CRI-O's layout, which checkpointctl's
// library reads: the container's metadata and spec, CRIU's images, and
// what it changed in its root file system. The container keeps running.
func TestCheckpointArchive(t *testing.T) {
	requireCRIU(t)
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "checkpoint", sandbox.ModeContainer)
	c := e.run(t, sb, config("job", `echo state > /new-file; rm /etc/group; i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done`))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if len(readLogMaybe(c.LogPath)) > 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container never logged")
		}
	}
	location := filepath.Join(t.TempDir(), "job.tar")
	if err := e.m.Checkpoint(ctx, c.ID, location); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(location)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive %v, %v; want a file readable by root only", fi, err)
	}
	dir := t.TempDir()
	names := untar(t, location, dir)
	for _, want := range []string{metadata.ConfigDumpFile, metadata.SpecDumpFile, metadata.RootFsDiffTar, metadata.DeletedFilesFile, metadata.DumpLogFile, "checkpoint/inventory.img"} {
		if !slices.Contains(names, want) {
			t.Errorf("archive lacks %s: %v", want, names)
		}
	}
	cfg, _, err := metadata.ReadContainerCheckpointConfigDump(dir)
	if err != nil || cfg.ID != c.ID || cfg.Name != "job" || cfg.RootfsImageRef != e.imageID || cfg.CheckpointedAt.IsZero() {
		t.Errorf("config.dump %+v, %v", cfg, err)
	}
	spec, _, err := metadata.ReadContainerCheckpointSpecDump(dir)
	if err != nil || spec.Process == nil || !slices.Contains(spec.Process.Args, "sh") {
		t.Errorf("spec.dump %+v, %v", spec, err)
	}
	deleted, _, err := metadata.ReadContainerCheckpointDeletedFiles(dir)
	if err != nil || !slices.Contains(deleted, "/etc/group") {
		t.Errorf("deleted.files %v, %v; want /etc/group", deleted, err)
	}
	diff := untar(t, filepath.Join(dir, metadata.RootFsDiffTar), t.TempDir())
	if !slices.Contains(diff, "new-file") || slices.Contains(diff, "bin/busybox") {
		t.Errorf("rootfs-diff.tar has %v; want the new file and nothing of the image", diff)
	}
	t.Run("checkpointctl", func(t *testing.T) {
		ctl, err := exec.LookPath("checkpointctl")
		if err != nil {
			t.Skip("needs checkpointctl (hack/install-tools.sh installs it; hack/test-guests.sh copies it into the guest)")
		}
		out, err := exec.Command(ctl, "show", location).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.ID[:12]) || !strings.Contains(string(out), "crisp") {
			t.Errorf("checkpointctl show: %v\n%s", err, out)
		}
		out, err = exec.Command(ctl, "inspect", "--ps-tree", location).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "sh") {
			t.Errorf("checkpointctl inspect --ps-tree: %v\n%s", err, out)
		}
	})
	got, err := e.m.Get(c.ID)
	if err != nil || got.State != StateRunning {
		t.Fatalf("after the checkpoint: %+v, %v; want running", got, err)
	}
	n := len(readLogMaybe(c.LogPath))
	for deadline := time.Now().Add(30 * time.Second); len(readLogMaybe(c.LogPath)) <= n+2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container stopped logging after the checkpoint")
		}
	}
	if entries, _ := os.ReadDir(e.m.opts.CheckpointDir); len(entries) != 0 {
		t.Errorf("work files left: %v", entries)
	}

	// A checkpoint that runs out of time leaves the container running
	// and nothing at its location.
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	second := filepath.Join(filepath.Dir(location), "second.tar")
	if err := e.m.Checkpoint(short, c.ID, second); err == nil {
		t.Error("a checkpoint with a 1 ms deadline succeeded")
	}
	if _, err := os.Stat(second); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed checkpoint left %s: %v", second, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(location)); len(entries) != 1 {
		t.Errorf("the archive directory has %d entries, want only the first archive", len(entries))
	}
	if got, err := e.m.Get(c.ID); err != nil || got.State != StateRunning {
		t.Errorf("after a failed checkpoint: %+v, %v; want running", got, err)
	}
}

// What CheckpointContainer refuses, before any CRIU runs.
func TestCheckpointRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "refusals", sandbox.ModeContainer)
	c := e.create(t, sb, config("created", "sleep 100"))
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.tar")
	if err := os.WriteFile(existing, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for location, want := range map[string]error{
		"relative.tar":                         errdefs.ErrInvalidArgument,
		dir + "/../x.tar":                      errdefs.ErrInvalidArgument,
		existing:                               errdefs.ErrInvalidArgument,
		"/proc/self/root" + dir + "/x.tar":     errdefs.ErrInvalidArgument,
		filepath.Join(dir, "missing", "x.tar"): errdefs.ErrInvalidArgument,
		filepath.Join(dir, "created.tar"):      errdefs.ErrFailedPrecondition,
	} {
		if err := e.m.Checkpoint(ctx, c.ID, location); !errors.Is(err, want) {
			t.Errorf("checkpoint to %s: %v, want %v", location, err, want)
		}
	}
	if data, _ := os.ReadFile(existing); string(data) != "keep" {
		t.Errorf("an existing file was replaced: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("refused checkpoints left files: %d entries", len(entries))
	}
}

// An archive appears whole under its name, never replaces a file, and a
// write cut short leaves nothing in the directory.
func TestWriteArchive(t *testing.T) {
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "config.dump"), []byte(`{"id":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	dir, name, err := openArchiveDir(filepath.Join(out, "a.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := writeArchive(context.Background(), dir, name, work); err != nil {
		t.Fatal(err)
	}
	if names := untar(t, filepath.Join(out, "a.tar"), t.TempDir()); !slices.Contains(names, "config.dump") {
		t.Errorf("archive has %v", names)
	}
	before, _ := os.ReadFile(filepath.Join(out, "a.tar"))
	if err := writeArchive(context.Background(), dir, name, t.TempDir()); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("a second archive under the same name: %v, want refused", err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, "a.tar")); !slices.Equal(before, after) {
		t.Error("the first archive was replaced")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := writeArchive(ctx, dir, "b.tar", work); err == nil {
		t.Error("a canceled write succeeded")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("the directory has %d entries, want only the first archive", len(entries))
	}
}

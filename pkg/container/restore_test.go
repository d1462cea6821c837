package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// lastCount is the last number a counter container logged, 0 if none.
func lastCount(path string) int {
	lines := readLogMaybe(path)
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
			return n
		}
	}
	return 0
}

// waitCount waits until the counter logging to path passed n.
func waitCount(t *testing.T, path string, n int) int {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got := lastCount(path); got > n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counter logging to %s never passed %d: %q", path, n, readLogMaybe(path))
		}
	}
}

// procState is the state letter of process pid (R, S, T, ...).
func procState(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

// loadCheckpointImage loads, as ref, an OCI image built from the checkpoint
// archive at path as CRI-O's documentation builds one: the archive's files
// at its root, annotated with the checkpointed container's name.
func loadCheckpointImage(t *testing.T, e *env, path, ref string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var files []testregistry.File
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "" || name == ".":
		case h.Typeflag == tar.TypeDir:
			files = append(files, testregistry.File{Name: name, Dir: true, Mode: 0o700})
		case h.Typeflag == tar.TypeReg:
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, testregistry.File{Name: name, Body: body, Mode: 0o600})
		}
	}
	layer, err := testregistry.Layer(files, testregistry.Uncompressed)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testregistry.Image(runtime.GOARCH, v1.Config{}, layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{metadata.CheckpointAnnotationName: "counter"}).(v1.Image)
	archive := filepath.Join(t.TempDir(), "checkpoint-image.tar")
	if err := testregistry.WriteOCIArchive(archive, ref, img, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.images.Load(context.Background(), archive); err != nil {
		t.Fatal(err)
	}
}

// A container created from its checkpoint archive in another pod is the
// checkpointed one again: stopped until started, then counting on from
// where the checkpoint caught it, with the file it keeps open, its TCP
// listener and the changes it made to its root file system.
func TestRestoreFromArchive(t *testing.T) {
	requireCRIU(t)
	e := newEnv(t)
	ctx := context.Background()
	first := e.pod(t, "origin", sandbox.ModeContainer)
	script := `echo state > /new-file; rm /etc/group; nc -l -p 7777 </dev/null >/nc.out 2>&1 & exec 3>>/kept; i=0; while :; do i=$((i+1)); echo $i; echo $i >&3; sleep 0.05; done`
	c := e.run(t, first, config("counter", script))
	waitCount(t, c.LogPath, 5)
	// busybox's nc listens on IPv6's any address where it can.
	listening := func(pid int) bool {
		for _, f := range []string{"tcp", "tcp6"} {
			data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/" + f)
			for _, line := range strings.Split(string(data), "\n") {
				if fs := strings.Fields(line); len(fs) > 3 && strings.HasSuffix(fs[1], ":1E61") && fs[3] == "0A" {
					return true
				}
			}
		}
		return false
	}
	for deadline := time.Now().Add(30 * time.Second); !listening(c.Pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			out, _ := os.ReadFile("/proc/" + strconv.Itoa(c.Pid) + "/root/nc.out")
			t.Fatalf("the container's nc never listened on port 7777: %s", out)
		}
	}
	location := filepath.Join(t.TempDir(), "counter.tar")
	if err := e.m.Checkpoint(ctx, c.ID, location); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Stop(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	stopped := lastCount(c.LogPath)

	second := e.pod(t, "restored", sandbox.ModeContainer)
	cfg := config("counter", "exit 99")
	cfg.Image.Image = location
	r, err := e.m.Create(ctx, second.ID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != StateCreated || r.Restored == nil || !r.Restored.Stopped || r.Restored.From != location || r.Restored.OriginalID != c.ID {
		t.Fatalf("restored container %+v (restored %+v); want created, stopped, from %s", r, r.Restored, location)
	}
	if r.ImageID != e.imageID {
		t.Errorf("restored on image %s, want the checkpoint's %s", r.ImageID, e.imageID)
	}
	// Nothing of it runs before Start.
	if st := procState(t, r.Pid); st != "T" {
		t.Errorf("restored init is in state %s before Start, want T (stopped)", st)
	}
	if n := lastCount(r.LogPath); n != 0 {
		t.Errorf("the restored container logged %d before Start", n)
	}
	if err := e.m.Start(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	got := waitCount(t, r.LogPath, 0)
	lines := readLogMaybe(r.LogPath)
	firstLine := strings.Fields(lines[0])
	if n, _ := strconv.Atoi(firstLine[len(firstLine)-1]); n <= 5 || n > stopped+1 {
		t.Errorf("the restored counter began at %d (then %d); the checkpoint caught it after 5 and it stopped at %d", n, got, stopped)
	}
	root := "/proc/" + strconv.Itoa(r.Pid) + "/root"
	if data, err := os.ReadFile(root + "/new-file"); err != nil || string(data) != "state\n" {
		t.Errorf("/new-file in the restored container: %q, %v", data, err)
	}
	if _, err := os.Stat(root + "/etc/group"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/etc/group, which the container deleted, is back: %v", err)
	}
	if link, err := os.Readlink("/proc/" + strconv.Itoa(r.Pid) + "/fd/3"); err != nil || link != "/kept" {
		t.Errorf("descriptor 3 of the restored init is %q, %v; want /kept", link, err)
	}
	// The listener in the background is back, listening in the new
	// pod's network namespace.
	if !listening(r.Pid) {
		t.Error("no TCP listener on port 7777 in the restored container")
	}
	waitCount(t, r.LogPath, got)
	kept, _ := os.ReadFile(root + "/kept")
	if n := strings.Count(string(kept), "\n"); n <= got {
		t.Errorf("/kept has %d lines; the restored counter is past %d and writes each number there", n, got)
	}
	if entries, _ := os.ReadDir(e.m.opts.CheckpointDir); len(entries) != 0 {
		t.Errorf("restore work files left: %v", entries)
	}

	// An OCI image built from the archive restores the same way.
	loadCheckpointImage(t, e, location, "crisp.test/counter-checkpoint:1")
	third := e.pod(t, "from-image", sandbox.ModeContainer)
	cfg = config("counter", "exit 99")
	cfg.Image.Image = "crisp.test/counter-checkpoint:1"
	fromImage, err := e.m.Create(ctx, third.ID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fromImage.ImageID != e.imageID || fromImage.Restored == nil || fromImage.Restored.From != cfg.Image.Image {
		t.Errorf("restored from the image: image %s, restored %+v; want the checkpoint's image %s, from %s", fromImage.ImageID, fromImage.Restored, e.imageID, cfg.Image.Image)
	}
	if err := e.m.Start(ctx, fromImage.ID); err != nil {
		t.Fatal(err)
	}
	waitCount(t, fromImage.LogPath, 0)
	lines = readLogMaybe(fromImage.LogPath)
	firstLine = strings.Fields(lines[0])
	if n, _ := strconv.Atoi(firstLine[len(firstLine)-1]); n <= 5 || n > stopped+1 {
		t.Errorf("the counter restored from the image began at %d; the checkpoint caught it after 5 and it stopped at %d", n, stopped)
	}
	if layers, _ := e.images.ContainerLayers(ctx); len(layers) != 3 {
		t.Errorf("container layers %v: want the three containers' only, not the checkpoint image's mount", layers)
	}
}

// The refusals of a restore from an archive, before anything is made.
func TestRestoreRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "refusals", sandbox.ModeContainer)
	dir := t.TempDir()
	tarOf := func(name string, files map[string]string) string {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for n, data := range files {
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg})
			tw.Write([]byte(data))
		}
		tw.Close()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spec := `{"ociVersion":"1.0.0","process":{"args":["sh"],"cwd":"/"},"root":{"path":"/"},"linux":{}}`
	whole := map[string]string{
		"config.dump": `{"id":"old","rootfsImageRef":"` + e.imageID + `"}`, "spec.dump": spec, "checkpoint/inventory.img": "x",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range whole {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	if err := os.Symlink(tarOf("target.tar", whole), filepath.Join(dir, "link.tar")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		image string
		want  error
	}{
		"missing":         {filepath.Join(dir, "missing.tar"), errdefs.ErrInvalidArgument},
		"unclean":         {dir + "/../x.tar", errdefs.ErrInvalidArgument},
		"symlink":         {filepath.Join(dir, "link.tar"), errdefs.ErrInvalidArgument},
		"directory":       {dir, errdefs.ErrInvalidArgument},
		"not a tar":       {tarOf("empty.tar", nil), errdefs.ErrInvalidArgument},
		"no images":       {tarOf("noimages.tar", with("checkpoint/inventory.img", "")), errdefs.ErrInvalidArgument},
		"no config":       {tarOf("noconfig.tar", with("config.dump", "")), errdefs.ErrInvalidArgument},
		"bad spec":        {tarOf("badspec.tar", with("spec.dump", "{")), errdefs.ErrInvalidArgument},
		"traversal":       {tarOf("traversal.tar", with("../escape", "x")), errdefs.ErrInvalidArgument},
		"other arch":      {tarOf("arch.tar", with("spec.dump", strings.Replace(spec, `"linux":{}`, `"linux":{},"annotations":{"org.criu.checkpoint.host.arch":"s390x"}`, 1))), errdefs.ErrInvalidArgument},
		"missing image":   {tarOf("image.tar", with("config.dump", `{"id":"old","rootfsImageRef":"`+strings.Repeat("0", 64)+`"}`)), errdefs.ErrNotFound},
		"no image at all": {tarOf("noimage.tar", with("config.dump", `{"id":"old"}`)), errdefs.ErrInvalidArgument},
	} {
		cfg := config("r", "true")
		cfg.Image.Image = tc.image
		if _, err := e.m.Create(ctx, sb.ID, cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("an archive wrote outside its directory")
	}
	if entries, _ := os.ReadDir(e.m.opts.CheckpointDir); len(entries) != 0 {
		t.Errorf("refused restores left files: %v", entries)
	}
	if cs := e.m.List(); len(cs) != 0 {
		t.Errorf("refused restores left containers: %v", cs)
	}

	// An image annotated as a checkpoint, with no checkpoint in it, is
	// refused, and its mount removed.
	layer, err := testregistry.Layer([]testregistry.File{{Name: "spec.dump", Body: []byte(spec)}}, testregistry.Uncompressed)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testregistry.Image(runtime.GOARCH, v1.Config{}, layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{"io.kubernetes.cri-o.annotations.checkpoint.name": "r"}).(v1.Image)
	archive := filepath.Join(t.TempDir(), "image.tar")
	if err := testregistry.WriteOCIArchive(archive, "crisp.test/not-a-checkpoint:1", img, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.images.Load(ctx, archive); err != nil {
		t.Fatal(err)
	}
	cfg := config("r", "true")
	cfg.Image.Image = "crisp.test/not-a-checkpoint:1"
	if _, err := e.m.Create(ctx, sb.ID, cfg); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "config.dump") {
		t.Errorf("a checkpoint image without config.dump: %v, want InvalidArgument naming it", err)
	}
	if layers, _ := e.images.ContainerLayers(ctx); len(layers) != 0 {
		t.Errorf("a refused checkpoint image left layers: %v", layers)
	}
}

// CheckpointPod captures two running containers of a pod in one cut and
// leaves both running; restored one by one from it into a new pod, with
// the configs they were made with, each waits stopped for Start and then
// counts on. A config that differs from the checkpointed process fails,
// and a checkpoint that runs out of time leaves nothing and no container
// frozen.
func TestCheckpointPodAndRestore(t *testing.T) {
	requireCRIU(t)
	e := newEnv(t)
	ctx := context.Background()
	first := e.pod(t, "origin", sandbox.ModeContainer)
	script := `i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done`
	cfgs := []*runtimeapi.ContainerConfig{config("one", script), config("two", script)}
	var ids []string
	var logs []string
	for _, cfg := range cfgs {
		c := e.run(t, first, cfg)
		waitCount(t, c.LogPath, 3)
		ids, logs = append(ids, c.ID), append(logs, c.LogPath)
	}

	// Out of time: nothing written, nothing frozen.
	empty := t.TempDir()
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if err := e.m.CheckpointPod(short, first.ID, ids, empty); err == nil {
		t.Error("a pod checkpoint with a 1 ms deadline succeeded")
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("a failed pod checkpoint left %v", entries)
	}
	for _, id := range ids {
		if st, err := e.m.opts.Runtime.State(ctx, id); err != nil || st.Status != oci.StatusRunning {
			t.Errorf("after a failed pod checkpoint container %s is %+v, %v; want running", id, st, err)
		}
	}

	dir := t.TempDir()
	if err := e.m.CheckpointPod(ctx, first.ID, ids, dir); err != nil {
		t.Fatal(err)
	}
	var counts []int
	for i, id := range ids {
		if st, err := e.m.opts.Runtime.State(ctx, id); err != nil || st.Status != oci.StatusRunning {
			t.Errorf("after the pod checkpoint container %s is %+v, %v; want running, thawed", id, st, err)
		}
		waitCount(t, logs[i], lastCount(logs[i]))
		if err := e.m.Stop(ctx, id, 0); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, lastCount(logs[i]))
	}
	p, err := OpenPodCheckpoint("checkpoint_path", dir)
	if err != nil {
		t.Fatal(err)
	}
	if names := p.Names(); !slices.Equal(names, []string{"one", "two"}) {
		t.Fatalf("pod checkpoint names %v", names)
	}

	// The new pod has the old one's hostname, as kubelet's restored pod
	// does: the checkpointed processes' HOSTNAME is the pod's.
	second, err := e.pods.Run(ctx, sandbox.Spec{
		Metadata: sandbox.Metadata{Name: "restored", Namespace: "default", UID: "uid-restored"},
		Hostname: "origin", LogDirectory: filepath.Join(e.logs, "restored"), PIDMode: sandbox.ModeContainer,
	})
	if err != nil {
		t.Fatal(err)
	}
	other := config("one", "echo not the checkpointed process")
	if _, err := e.m.RestorePodContainer(ctx, second.ID, other, p); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "command") {
		t.Errorf("restore with another command: %v, want InvalidArgument naming command", err)
	}
	if cs := e.m.List(); len(cs) != len(ids) {
		t.Errorf("a refused restore left a container: %d containers", len(cs))
	}
	for i, cfg := range cfgs {
		r, err := e.m.RestorePodContainer(ctx, second.ID, cfg, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != StateCreated || procState(t, r.Pid) != "T" {
			t.Errorf("restored %s is %s, its init in state %s; want created and stopped", cfg.Metadata.Name, r.State, procState(t, r.Pid))
		}
		if err := e.m.Start(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		waitCount(t, r.LogPath, 0)
		lines := readLogMaybe(r.LogPath)
		f := strings.Fields(lines[0])
		if n, _ := strconv.Atoi(f[len(f)-1]); n <= 3 || n > counts[i]+1 {
			t.Errorf("restored %s began at %d; the checkpoint caught it after 3 and it stopped at %d", cfg.Metadata.Name, n, counts[i])
		}
	}
	if entries, _ := os.ReadDir(e.m.opts.CheckpointDir); len(entries) != 0 {
		t.Errorf("restore work files left: %v", entries)
	}
}

// A restored container masks at least what the checkpointed one masked
// (kubelet's list may be longer than the request's): CRIU binds /dev/null
// again over each of them, and the processes must not see more.
func TestRestoreKeepsMaskedPaths(t *testing.T) {
	src := &checkpointSource{spec: &specs.Spec{
		Process: &specs.Process{Args: []string{"sh"}},
		Linux:   &specs.Linux{MaskedPaths: []string{"/proc/kcore", "/proc/interrupts"}},
	}}
	built := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore", "/proc/keys"}}}
	if err := src.adopt(built); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/interrupts"} {
		if !slices.Contains(built.Linux.MaskedPaths, p) {
			t.Errorf("masked paths %v lack %s", built.Linux.MaskedPaths, p)
		}
	}
}

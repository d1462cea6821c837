package oci

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/checkpoint-restore/go-criu/v7/stats"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// requireCRIU skips a test where CRIU cannot work: no criu, or a kernel
// whose features `criu check` does not find.
func requireCRIU(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	path, err := exec.LookPath("criu")
	if err != nil {
		t.Skip("needs criu (Debian's criu package); hack/vm's qemu guest has it")
	}
	if out, err := exec.Command(path, "check").CombinedOutput(); err != nil {
		t.Skipf("needs a kernel that `criu check` accepts (run in the qemu guest, hack/vm/vm-test.sh go-test --qemu): %v: %s", err, lastLine(out))
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// counterSpec counts in a shell variable, one number a line, every 50 ms:
// a restored container goes on counting from where it was, so its memory
// came back.
func counterSpec(t *testing.T) *specs.Spec {
	return testSpec(t, "sh", "-c", `i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done`)
}

// logNumbers returns the numbers a counter container logged.
func logNumbers(t *testing.T, path string) []int {
	t.Helper()
	var out []int
	for _, l := range readLogSoFar(t, path) {
		if n, err := strconv.Atoi(strings.TrimSpace(l.content)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// waitCount waits until the counter logged past n and returns what it
// logged; the bound only keeps a broken test from hanging.
func waitCount(t *testing.T, path string, n int) []int {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := logNumbers(t, path)
		if len(got) > 0 && got[len(got)-1] > n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counter logged %v, never past %d", got, n)
		}
	}
}

// runCounter creates and starts container id of bundle, a counter logging
// to logPath, and waits until it counted past n.
func runCounter(t *testing.T, rt *Runtime, id, bundle, logPath string, n int) {
	t.Helper()
	ctx := context.Background()
	if err := rt.Create(ctx, id, bundle, CreateOptions{LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), id, true) })
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitCount(t, logPath, n)
}

// A checkpoint stops the container and writes its images; a restore from
// them, into a new container of the same bundle, runs the same processes
// with their memory: the count goes on from where it stopped, in the new
// container's log, under a new monitor that records its end.
func TestCheckpointRestore(t *testing.T) {
	requireCRIU(t)
	rt := newTestRuntime(t)
	ctx := context.Background()
	dir := t.TempDir()
	bundle := writeBundle(t, counterSpec(t))
	firstLog, secondLog := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
	runCounter(t, rt, "first", bundle, firstLog, 5)

	images := filepath.Join(dir, "images")
	if err := rt.Checkpoint(ctx, "first", CheckpointOptions{ImagePath: images}); err != nil {
		t.Fatal(err)
	}
	st, err := rt.Wait(ctx, "first")
	if err != nil || st.Signal == 0 {
		t.Fatalf("after the checkpoint the container ended with %+v, %v; want killed", st, err)
	}
	counted := logNumbers(t, firstLog)
	last := counted[len(counted)-1]
	for _, f := range []string{"inventory.img", descriptorsFile, "dump.log"} {
		if _, err := os.Stat(filepath.Join(images, f)); err != nil {
			t.Errorf("checkpoint images: %v", err)
		}
	}
	if err := rt.Delete(ctx, "first", false); err != nil {
		t.Fatal(err)
	}

	if err := rt.Restore(ctx, "second", bundle, CreateOptions{LogPath: secondLog}, RestoreOptions{ImagePath: images}); err != nil {
		log, _ := os.ReadFile(filepath.Join(images, "restore.log"))
		t.Fatalf("%v\n%s", err, log)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "second", true) })
	if st, err := rt.State(ctx, "second"); err != nil || st.Status != StatusRunning || st.Pid <= 0 {
		t.Fatalf("restored container: %+v, %v; want running", st, err)
	}
	got := waitCount(t, secondLog, last+3)
	if got[0] != last+1 {
		t.Errorf("the restored counter logged %v first, want %d: it did not go on from %d", got[0], last+1, last)
	}
	if err := rt.Kill(ctx, "second", 9, false); err != nil {
		t.Fatal(err)
	}
	if st, err := rt.Wait(ctx, "second"); err != nil || st.Signal != 9 {
		t.Errorf("restored container ended with %+v, %v; want SIGKILL recorded by its monitor", st, err)
	}
	if err := rt.Delete(ctx, "second", false); err != nil {
		t.Fatal(err)
	}
	assertNoCgroup(t, rt, "second")
}

// Pre-dumps leave the container running; the final dump with the last
// pre-dump as parent writes only what changed, and --leave-running keeps
// the container going.
func TestCheckpointPreDumpAndLeaveRunning(t *testing.T) {
	requireCRIU(t)
	rt := newTestRuntime(t)
	ctx := context.Background()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "c.log")
	runCounter(t, rt, "snap", writeBundle(t, counterSpec(t)), logPath, 2)
	pre := filepath.Join(dir, "pre")
	if err := rt.Checkpoint(ctx, "snap", CheckpointOptions{ImagePath: pre, PreDump: true}); err != nil {
		log, _ := os.ReadFile(filepath.Join(pre, "pre-dump.log"))
		t.Fatalf("%v\n%s", err, log)
	}
	n := logNumbers(t, logPath)
	waitCount(t, logPath, n[len(n)-1]+2)
	final := filepath.Join(dir, "final")
	if err := rt.Checkpoint(ctx, "snap", CheckpointOptions{ImagePath: final, ParentPath: "../pre", LeaveRunning: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := rt.State(ctx, "snap"); err != nil || st.Status != StatusRunning {
		t.Fatalf("after pre-dump and --leave-running: %+v, %v; want running", st, err)
	}
	n = logNumbers(t, logPath)
	waitCount(t, logPath, n[len(n)-1]+2)
	if _, err := os.Lstat(filepath.Join(final, "parent")); err != nil {
		t.Errorf("the final dump names no parent: %v", err)
	}
}

// What cannot be checkpointed or restored is refused, and a failed
// restore leaves no state, cgroup or process.
func TestCheckpointRestoreRefusals(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	spec := testSpec(t, "true")
	createContainer(t, rt, "created", spec, nil)
	if err := rt.Checkpoint(ctx, "created", CheckpointOptions{ImagePath: t.TempDir()}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("checkpoint of a created container: %v, want a failed precondition", err)
	}
	if err := rt.Checkpoint(ctx, "created", CheckpointOptions{ImagePath: t.TempDir(), ManageCgroupsMode: "loose"}); !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("checkpoint with a bad cgroup mode: %v", err)
	}
	bundle := writeBundle(t, spec)
	for name, opts := range map[string]RestoreOptions{
		"no images":       {ImagePath: t.TempDir()},
		"bad cgroup mode": {ImagePath: t.TempDir(), ManageCgroupsMode: "loose"},
		"no image path":   {},
	} {
		if err := rt.Restore(ctx, "restored", bundle, CreateOptions{}, opts); err == nil {
			t.Errorf("%s: restore succeeded", name)
		}
		if _, err := os.Stat(rt.dir("restored")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a failed restore left its state: %v", name, err)
		}
	}
	tty := testSpec(t, "true")
	tty.Process.Terminal = true
	images := t.TempDir()
	if err := os.WriteFile(filepath.Join(images, descriptorsFile), []byte(`["/dev/null","/dev/null","/dev/null"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := rt.Restore(ctx, "restored", writeBundle(t, tty), CreateOptions{}, RestoreOptions{ImagePath: images})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "process.terminal") {
		t.Errorf("restore with a terminal: %v, want refused naming process.terminal", err)
	}
}

// A runtime without CRIU's protocol (crisp-oci's) refuses checkpoint and
// restore as not implemented, before it touches the container or makes
// anything, rather than failing half-way.
func TestCheckpointRestoreWithoutCodecRefused(t *testing.T) {
	busyboxRootfs(t)
	rt, err := New(Options{Root: t.TempDir(), CgroupMount: cgroupMount(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx := context.Background()
	spec := testSpec(t, "sleep", "60")
	createContainer(t, rt, "running", spec, nil)
	if err := rt.Start(ctx, "running"); err != nil {
		t.Fatal(err)
	}
	images := t.TempDir()
	err = rt.Checkpoint(ctx, "running", CheckpointOptions{ImagePath: images})
	if !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("checkpoint without a codec: %v, want not implemented", err)
	}
	if entries, _ := os.ReadDir(images); len(entries) != 0 {
		t.Errorf("a refused checkpoint wrote %d files to the image path", len(entries))
	}
	if st, err := rt.State(ctx, "running"); err != nil || st.Status != StatusRunning {
		t.Errorf("after a refused checkpoint: %+v, %v; want running", st, err)
	}
	if err := os.WriteFile(filepath.Join(images, descriptorsFile), []byte(`["/dev/null","/dev/null","/dev/null"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	err = rt.Restore(ctx, "restored", writeBundle(t, testSpec(t, "true")), CreateOptions{}, RestoreOptions{ImagePath: images})
	if !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("restore without a codec: %v, want not implemented", err)
	}
	if _, err := os.Stat(rt.dir("restored")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore left its state: %v", err)
	}
}

// A restore CRIU fails (images without processes) leaves no state, cgroup
// or process behind.
func TestFailedRestoreLeavesNothing(t *testing.T) {
	requireCRIU(t)
	rt := newTestRuntime(t)
	ctx := context.Background()
	images := t.TempDir()
	if err := os.WriteFile(filepath.Join(images, descriptorsFile), []byte(`["/dev/null","/dev/null","/dev/null"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := rt.Restore(ctx, "broken", writeBundle(t, testSpec(t, "true")), CreateOptions{}, RestoreOptions{ImagePath: images})
	if err == nil {
		t.Fatal("restore from empty images succeeded")
	}
	if _, err := os.Stat(rt.dir("broken")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed restore left its state: %v", err)
	}
	assertNoCgroup(t, rt, "broken")
}

// assertNoCgroup checks that no cgroup of the test's containers is left.
func assertNoCgroup(t *testing.T, rt *Runtime, id string) {
	t.Helper()
	dir := filepath.Join(rt.cgroupMount, "crisp-test", strings.NewReplacer("/", "-").Replace(t.Name()))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("container %s left its cgroup %s: %v", id, dir, err)
	}
}

// dumpStats reads CRIU's statistics of the dump in images.
func dumpStats(t *testing.T, images string) *stats.DumpStatsEntry {
	t.Helper()
	dir, err := os.Open(images)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	st, err := stats.CriuGetDumpStats(dir)
	if err != nil {
		t.Fatalf("statistics of the dump in %s: %v", images, err)
	}
	return st
}

// Three incremental snapshots of a running counter: two pre-dumps, each on
// the one before, then the final dump on the second, which leaves out the
// pages its parents hold, as a full dump taken meanwhile does not;
// restored from the last, the counter goes on.
func TestIncrementalSnapshots(t *testing.T) {
	requireCRIU(t)
	rt := newTestRuntime(t)
	ctx := context.Background()
	dir := t.TempDir()
	bundle := writeBundle(t, counterSpec(t))
	firstLog, secondLog := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
	runCounter(t, rt, "snaps", bundle, firstLog, 2)
	step := func(opts CheckpointOptions) {
		t.Helper()
		if err := rt.Checkpoint(ctx, "snaps", opts); err != nil {
			t.Fatalf("checkpoint %+v: %v", opts, err)
		}
		if !opts.PreDump && !opts.LeaveRunning {
			return
		}
		n := logNumbers(t, firstLog)
		waitCount(t, firstLog, n[len(n)-1]+2)
	}
	step(CheckpointOptions{ImagePath: filepath.Join(dir, "1"), PreDump: true})
	step(CheckpointOptions{ImagePath: filepath.Join(dir, "2"), ParentPath: "../1", PreDump: true})
	step(CheckpointOptions{ImagePath: filepath.Join(dir, "full"), LeaveRunning: true})
	step(CheckpointOptions{ImagePath: filepath.Join(dir, "3"), ParentPath: "../2"})
	if _, err := rt.Wait(ctx, "snaps"); err != nil {
		t.Fatal(err)
	}
	last := logNumbers(t, firstLog)
	// CRIU's statistics of each dump say what it took from its parent:
	// the final dump skips the pages the pre-dumps hold unchanged, a full
	// dump skips none. (The sizes of the dumps are no measure: the shell's
	// short-lived children, dumped whole, come and go between dumps.)
	if full := dumpStats(t, filepath.Join(dir, "full")); full.GetPagesSkippedParent() != 0 || full.GetPagesWritten() == 0 {
		t.Errorf("the full dump: %v, want pages written and none skipped", full)
	}
	if final := dumpStats(t, filepath.Join(dir, "3")); final.GetPagesSkippedParent() == 0 || final.GetPagesWritten() >= final.GetPagesScanned() {
		t.Errorf("the final incremental dump: %v, want pages skipped as its parents hold them", final)
	}
	if err := rt.Delete(ctx, "snaps", false); err != nil {
		t.Fatal(err)
	}
	if err := rt.Restore(ctx, "restored", bundle, CreateOptions{LogPath: secondLog}, RestoreOptions{ImagePath: filepath.Join(dir, "3")}); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "3", "restore.log"))
		t.Fatalf("%v\n%s", err, log)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "restored", true) })
	got := waitCount(t, secondLog, last[len(last)-1]+2)
	if got[0] != last[len(last)-1]+1 {
		t.Errorf("restored from the last snapshot the counter began at %d, want %d", got[0], last[len(last)-1]+1)
	}
}

package container

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// A daemon that dies at any step of Create leaves a container that the
// restarted daemon undoes completely: OCI state and processes, cgroup,
// layer and its mount, image volume, bundle, record. The crash is simulated by ending
// Create's goroutine at the step, so that nothing of Create's own cleanup
// runs, and abandoning the managers.
func TestCrashAtEveryCreateStepIsUndoneOnRestart(t *testing.T) {
	e := newEnv(t)
	// With NRI on, so that a crash while plugins look at it is undone too.
	e.nri = &fakeNRI{}
	e.open(t)
	ctx := context.Background()
	sb := e.pod(t, "crash", sandbox.ModeContainer)
	cfg := config("crash", "sleep 1000")
	cfg.Mounts = []*runtimeapi.Mount{imageVolume("/vol", testImage, "etc")}
	var crashed []string
	for i := 0; ; i++ {
		e.crashAtStep(i, &crashed)
		done := make(chan *Container, 1)
		go func() {
			defer close(done)
			c, err := e.m.Create(ctx, sb.ID, cfg)
			if err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			done <- c
		}()
		if c, ok := <-done; ok {
			// Past the last step: Create crashed at every step once.
			e.m.testHookStep = nil
			if err := e.m.Remove(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			break
		}
		if t.Failed() {
			t.FailNow()
		}
		// The daemon restarts on the same state and store.
		e.open(t)
		assertNothingLeft(t, e)
		if t.Failed() {
			t.Fatalf("restart after a crash at step %q left the above", crashed[len(crashed)-1])
		}
	}
	t.Logf("crashed at steps %s", strings.Join(crashed, ", "))
	for _, want := range []string{"image", "layer", "mount", "record", "volume", "bundle", "nri", "oci", "state"} {
		if !slices.Contains(crashed, want) {
			t.Errorf("Create never crashed at step %q", want)
		}
	}
	assertNothingLeft(t, e)
}

// Create stores the container's record while it makes the writable layer.
// A daemon that dies after the layer was made and mounted and before the
// record was stored leaves a claimed layer whose owner has no record: the
// restarted daemon unmounts and removes it, and nothing is left.
func TestCrashBeforeTheRecordIsStoredIsUndoneOnRestart(t *testing.T) {
	e, sb, release := recordHeldEnv(t, "unrecorded")
	ctx := context.Background()
	// The record's write never gets past the hook: the daemon is dead by
	// then. (Released at the end, it finds its store closed.)
	t.Cleanup(func() { close(release) })
	crashed := make(chan struct{})
	e.m.testHookStep = func(step string) error {
		if step == "record" {
			close(crashed)
			runtime.Goexit()
		}
		return nil
	}
	go func() {
		_, err := e.m.Create(ctx, sb.ID, config("unrecorded", "sleep 1000"))
		t.Errorf("Create returned (%v) past its crash", err)
	}()
	<-crashed
	if layers, err := e.images.ContainerLayers(ctx); err != nil || len(layers) != 1 {
		t.Fatalf("container layers at the crash: %v %v, want the one made", layers, err)
	}
	if recs, err := e.m.records.List(); err != nil || len(recs) != 0 {
		t.Fatalf("records at the crash: %d %v, want none", len(recs), err)
	}
	if m := mountsUnder(t, filepath.Join(e.dir, "root")); len(m) != 1 {
		t.Fatalf("mounts under the image storage at the crash: %v, want the layer's", m)
	}
	e.open(t)
	assertNothingLeft(t, e)
}

// Create makes nothing but the claimed writable layer before the
// container's record is stored: every later step finds the record.
func TestCreateMakesNothingElseBeforeTheRecordIsStored(t *testing.T) {
	e, sb, release := recordHeldEnv(t, "recorded")
	ctx := context.Background()
	var steps []string
	e.m.testHookStep = func(step string) error {
		switch step {
		case "image", "layer", "mount":
		case "record":
			// Held until here, past the layer's mount, the record is
			// let go a little later: a Create that went on without it
			// would reach its next step first.
			time.AfterFunc(50*time.Millisecond, func() { close(release) })
		default:
			if recs, err := e.m.records.List(); err != nil || len(recs) != 1 {
				t.Errorf("step %q with %d records (%v), want the container's", step, len(recs), err)
			}
		}
		steps = append(steps, step)
		return nil
	}
	c, err := e.m.Create(ctx, sb.ID, config("recorded", "sleep 1000"))
	if err != nil {
		t.Fatal(err)
	}
	e.m.testHookStep = nil
	if !slices.Contains(steps, "bundle") {
		t.Errorf("Create's steps %v: no bundle step checked", steps)
	}
	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
}

// recordHeldEnv is an env with a pod named name whose manager's Create
// holds its record write until release is closed.
func recordHeldEnv(t *testing.T, name string) (*env, *sandbox.Sandbox, chan struct{}) {
	t.Helper()
	e := newEnv(t)
	e.open(t)
	sb := e.pod(t, name, sandbox.ModeContainer)
	release := make(chan struct{})
	e.m.testHookRecord = func() { <-release }
	return e, sb, release
}

// A daemon that dies at any step of Remove, before or after the deletion
// of the layers was handed off, leaves nothing once it restarts and
// kubelet, which saw RemoveContainer fail, retries it. One that dies after
// RemoveContainer answered, while the record is deleted in the background,
// finishes the removal as it restarts: the container does not come back.
// (Once the record is gone, the restart alone deletes the layers: see
// TestRestartReclaimsUnrecordedLayers.)
func TestCrashAtEveryRemoveStepIsFinishedOnRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "crashrm", sandbox.ModeContainer)
	cfg := config("crashrm", "sleep 1000")
	cfg.Mounts = []*runtimeapi.Mount{imageVolume("/vol", testImage, "etc")}
	var crashed []string
	for i := 0; ; i++ {
		c := e.run(t, sb, cfg)
		// Stopped first, as kubelet does: a crash kills the exit watcher
		// too, which an ended goroutine does not.
		if err := e.m.Stop(ctx, c.ID, 0); err != nil {
			t.Fatal(err)
		}
		before := len(crashed)
		e.crashAtStep(i, &crashed)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := e.m.Remove(ctx, c.ID); err != nil {
				t.Errorf("Remove: %v", err)
			}
			done <- struct{}{}
		}()
		_, answered := <-done
		// The background deletion, which the crash may have ended instead.
		if err := e.m.removals.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		e.m.testHookStep = nil
		if t.Failed() {
			t.FailNow()
		}
		if len(crashed) == before {
			// Past the last step: Remove crashed at every step once.
			assertNothingLeft(t, e)
			break
		}
		step := crashed[len(crashed)-1]
		e.open(t)
		_, err := e.m.Get(c.ID)
		if answered {
			if !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("after a crash at step %q, past RemoveContainer's answer, and a restart: %v, want the container gone", step, err)
			}
		} else {
			if err != nil {
				t.Fatalf("after a crash at step %q and a restart: %v, want the container still known", step, err)
			}
			if err := e.m.Remove(ctx, c.ID); err != nil {
				t.Fatalf("Remove after a crash at step %q: %v", step, err)
			}
		}
		assertNothingLeft(t, e)
		if t.Failed() {
			t.Fatalf("restart after a crash at step %q left the above", step)
		}
	}
	t.Logf("crashed at steps %s", strings.Join(crashed, ", "))
	for _, want := range []string{"remove-layers", "remove-retire", "remove-record"} {
		if !slices.Contains(crashed, want) {
			t.Errorf("Remove never crashed at step %q", want)
		}
	}
}

// A daemon that dies at any step of a restore, from a checkpoint archive
// or from an image built from one, leaves nothing once it restarts: no
// unpacked archive, no mount of the checkpoint image, no layer, record or
// bundle. The checkpoint is the real spec of a container of the same
// config, with CRIU images CRIU cannot restore, so that past its last step
// the restore fails and must undo itself too.
func TestCrashAtEveryRestoreStepIsUndoneOnRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "crashrestore", sandbox.ModeContainer)
	cfg := config("crashrestore", "sleep 1000")
	made := e.create(t, sb, cfg)
	spec, err := e.m.opts.Runtime.Spec(ctx, made.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, made.ID); err != nil {
		t.Fatal(err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"config.dump":              `{"id":"old","rootfsImageRef":"` + e.imageID + `"}`,
		"spec.dump":                string(specJSON),
		"deleted.files":            `["/etc/group"]`,
		"checkpoint/inventory.img": "not an image",
	}
	archive := filepath.Join(t.TempDir(), "crash.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	if err := os.WriteFile(archive, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	loadCheckpointImage(t, e, archive, "crisp.test/crash-checkpoint:1")

	for _, image := range []string{archive, "crisp.test/crash-checkpoint:1"} {
		var crashed []string
		for i := 0; ; i++ {
			e.crashAtStep(i, &crashed)
			done := make(chan error, 1)
			go func() {
				defer close(done)
				c := config("crashrestore", "sleep 1000")
				c.Image.Image = image
				_, err := e.m.Create(ctx, sb.ID, c)
				done <- err
			}()
			if err, ok := <-done; ok {
				// Past the last step: CRIU refused the images, and the
				// failed restore undid itself.
				e.m.testHookStep = nil
				if err == nil {
					t.Fatalf("%s: a restore of CRIU images that are not images succeeded", image)
				}
				assertNothingLeft(t, e)
				break
			}
			if t.Failed() {
				t.FailNow()
			}
			e.open(t)
			assertNothingLeft(t, e)
			if entries, _ := os.ReadDir(e.m.opts.CheckpointDir); len(entries) != 0 {
				t.Errorf("unpacked checkpoints left: %v", entries)
			}
			if t.Failed() {
				t.Fatalf("%s: restart after a crash at step %q left the above", image, crashed[len(crashed)-1])
			}
		}
		for _, want := range []string{"image", "layer", "mount", "record", "rootfs-changes", "bundle", "oci"} {
			if !slices.Contains(crashed, want) {
				t.Errorf("%s: the restore never crashed at step %q (crashed at %v)", image, want, crashed)
			}
		}
	}
}

// crashAtStep makes the operation that comes next stop at its step n+1
// (counting from 0), as a daemon killed there would: its goroutine ends
// where it stands. The step's name is added to crashed.
func (e *env) crashAtStep(n int, crashed *[]string) {
	calls := 0
	e.m.testHookStep = func(step string) error {
		calls++
		if calls == n+1 {
			*crashed = append(*crashed, step)
			runtime.Goexit()
		}
		return nil
	}
}

package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func TestRestartRecoversContainers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "restart", sandbox.ModeContainer)
	exits := e.run(t, sb, config("exits", "trap 'exit 7' USR1; echo ready; while true; do sleep 0.05; done"))
	keeps := e.run(t, sb, config("keeps", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.05; done"))
	created := e.create(t, sb, config("created", "echo started"))
	half := e.create(t, sb, config("half", "true"))
	waitLog(t, exits.LogPath, "ready")
	waitLog(t, keeps.LogPath, "ready")
	// A crash in the middle of Create: a container with its layer, bundle
	// and OCI state, still recorded as creating.
	rec, _ := e.m.Get(half.ID)
	rec.State = StateCreating
	if err := e.m.records.Put(half.ID, rec); err != nil {
		t.Fatal(err)
	}

	// A crash right after the record was stored: nothing else exists.
	early := &Container{
		ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", PodID: sb.ID, Name: "early_restart_default_uid-restart_0",
		State: StateCreating, Bundle: filepath.Join(e.m.bundles, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
		CgroupsPath: "/crisp/pod-" + sb.ID + "/crisp-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	}
	if err := e.m.records.Put(early.ID, early); err != nil {
		t.Fatal(err)
	}

	e.close()
	// While no manager runs, one container exits.
	if err := unix.Kill(exits.Pid, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	exitFile := filepath.Join(e.state, "oci", exits.ID, "exit")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(exitFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container's monitor recorded no exit")
		}
	}
	e.open(t)

	got, err := e.m.Get(exits.ID)
	if err != nil || got.State != StateExited || got.ExitCode != 7 || got.Reason != ReasonError || got.FinishedAt.Before(got.StartedAt) {
		t.Errorf("container that exited meanwhile: %+v, %v; want exited with code 7", got, err)
	}
	if got, err := e.m.Get(keeps.ID); err != nil || got.State != StateRunning || got.Pid != keeps.Pid {
		t.Errorf("running container after restart: %+v, %v; want running as pid %d", got, err, keeps.Pid)
	}
	for _, id := range []string{half.ID, early.ID} {
		if _, err := e.m.Get(id); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("half-made container after restart: %v, want undone", err)
		}
		if _, err := e.m.records.Get(id); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("half-made container's record after restart: %v, want removed", err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.state, "oci", half.ID)); !os.IsNotExist(err) {
		t.Errorf("half-made container's OCI state remains: %v", err)
	}
	// Its name is free for kubelet's retry.
	e.create(t, sb, config("half", "true"))

	// The running container is watched again: Stop sees it exit.
	if err := e.m.Stop(ctx, keeps.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.m.Get(keeps.ID); got.State != StateExited || got.ExitCode != 0 {
		t.Errorf("stopped after restart: state %s code %d, want exited 0", got.State, got.ExitCode)
	}
	// The created container can still be started.
	if err := e.m.Start(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.waitExited(t, created.ID); got.ExitCode != 0 {
		t.Errorf("created container started after restart exited %d", got.ExitCode)
	}
	waitLog(t, created.LogPath, "started")
}

func TestRestartAfterRebootOrLostState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "reboot", sandbox.ModeContainer)
	rebooted := e.run(t, sb, config("rebooted", "sleep 1000"))
	lost := e.run(t, sb, config("lost", "sleep 1000"))
	// One record says it is of an earlier boot; the other's OCI state is
	// gone (as after a reboot, /run being a tmpfs).
	rec, _ := e.m.Get(rebooted.ID)
	rec.BootID = "an-earlier-boot"
	if err := e.m.records.Put(rec.ID, rec); err != nil {
		t.Fatal(err)
	}
	e.close()
	if err := unix.Kill(lost.Pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ociDir := filepath.Join(e.state, "oci", lost.ID)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(ociDir, "exit")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container's monitor recorded no exit")
		}
	}
	if err := os.RemoveAll(ociDir); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	for _, c := range []*Container{rebooted, lost} {
		got, err := e.m.Get(c.ID)
		if err != nil || got.State != StateExited || got.ExitCode != unknownExitCode || got.Reason != ReasonUnknown || got.Message == "" {
			t.Errorf("container %s after restart: %+v, %v; want exited, unknown", c.Metadata.Name, got, err)
		}
	}
	// Removing them still removes everything.
	for _, c := range []*Container{rebooted, lost} {
		if err := e.m.Remove(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if alive(rebooted.Pid) {
		t.Error("Remove left the process of the container recorded in an earlier boot running")
	}
	assertNothingLeft(t, e)
}

// TestRestartReclaimsUnrecordedLayers: a writable layer no container record
// owns (a crash between making it and recording the container) is removed
// when the manager starts; a recorded container keeps its own.
func TestRestartReclaimsUnrecordedLayers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "reclaim", sandbox.ModeContainer)
	kept := e.create(t, sb, config("kept", "true"))
	if _, err := e.images.CreateContainerLayer(ctx, "unrecorded", e.imageID); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	layers, err := e.images.ContainerLayers(ctx)
	if err != nil || len(layers) != 1 || layers[0].ID != kept.ID {
		t.Fatalf("container layers after restart = %v, %v; want only %s", layers, err, kept.ID)
	}
}

// A daemon that dies in the middle of a checkpoint leaves the container
// frozen; the next one thaws it, for crisp freezes containers only while
// it checkpoints them.
func TestRestartThawsInterruptedCheckpoint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "thaw", sandbox.ModeContainer)
	c := e.run(t, sb, config("frozen", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done"))
	waitCount(t, c.LogPath, 1)
	if err := e.m.opts.Runtime.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	e.close()
	e.open(t)
	st, err := e.m.opts.Runtime.State(ctx, c.ID)
	if err != nil || st.Status != oci.StatusRunning {
		t.Fatalf("after the restart the container is %+v, %v; want running, thawed", st, err)
	}
	waitCount(t, c.LogPath, lastCount(c.LogPath))
}

package image

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// crashChildEnv carries the options and reference of a pull that the test
// binary runs as a child process and the test kills midway.
const crashChildEnv = "CRISP_IMAGE_TEST_CRASH_CHILD"

type crashChild struct {
	Opts Options
	Ref  string
	// Layers makes the child create container layers on Ref, one after
	// the other, each announced on stdout once made, instead of pulling.
	Layers bool
}

// withoutCopier returns opts for JSON, which cannot carry the Copier; the
// child sets its own.
func withoutCopier(opts Options) Options {
	opts.Copier = nil
	return opts
}

// runCrashChild pulls, or creates container layers, until it is killed.
func runCrashChild() int {
	var c crashChild
	if err := json.Unmarshal([]byte(os.Getenv(crashChildEnv)), &c); err != nil {
		return 2
	}
	c.Opts.Copier = testCopier // not carried in JSON
	s, err := Open(context.Background(), c.Opts)
	if err != nil {
		return 3
	}
	if c.Layers {
		for i := 0; ; i++ {
			id := fmt.Sprintf("crash-%d-%d", os.Getpid(), i)
			if _, err := s.CreateContainerLayer(context.Background(), id, c.Ref); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 5
			}
			fmt.Println(id)
		}
	}
	s.Pull(context.Background(), c.Ref, nil)
	return 4 // the registry never lets the pull finish
}

// TestContainerLayersReclaimedAfterCrashMidCreate kills a process while it
// creates container layers, again and again, then checks that the next
// start removes every layer of a container that does not exist (the killed
// process's, whether it was cut short before or after storage recorded the
// container), keeps the layer of one that does, and that the image is then
// really removed, layers and all.
func TestContainerLayersReclaimedAfterCrashMidCreate(t *testing.T) {
	requireRoot(t)
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	img, err := testregistry.LayeredImage(runtime.GOARCH, 7000, 2, 4096, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := push(t, reg, "crash/layers:1", img)
	ctx := context.Background()

	first, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := first.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.CreateContainerLayer(ctx, "survivor", pulled.ID); err != nil {
		t.Fatal(err)
	}
	_, imageLayers := storedCounts(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	env, _ := json.Marshal(crashChild{Opts: withoutCopier(opts), Ref: pulled.ID, Layers: true})
	const kills = 12
	for round := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+string(env))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Once a layer is announced the next one is being made. The
		// time one takes is measured over three, and each round kills a
		// later fraction of the way through the next, so the kills sweep
		// every step of making a layer.
		lines := bufio.NewScanner(out)
		var marks []time.Time
		for len(marks) < 4 && lines.Scan() {
			marks = append(marks, time.Now())
		}
		if len(marks) < 4 {
			cmd.Wait()
			t.Fatalf("round %d: the child stopped making layers", round)
		}
		per := marks[3].Sub(marks[1]) / 2
		time.Sleep(per * time.Duration(2*round+1) / (2 * kills))
		cmd.Process.Kill()
		cmd.Wait()
	}

	s := openTestStore(t, opts)
	removed, err := s.ReclaimContainerLayers(ctx, func(id string) bool { return id == "survivor" })
	if err != nil {
		t.Fatalf("ReclaimContainerLayers: %v", err)
	}
	if len(removed) < kills {
		t.Errorf("reclaimed the layers of %d containers, want at least %d: %v", len(removed), kills, removed)
	}
	if slices.Contains(removed, "survivor") {
		t.Errorf("reclaimed the layer of a live container")
	}
	list, err := s.ContainerLayers(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "survivor" {
		t.Fatalf("ContainerLayers after reclaim = %v, %v; want only survivor", list, err)
	}
	if _, layers := storedCounts(t, s); layers != imageLayers {
		t.Fatalf("%d layers after reclaim, want the %d of the image and the survivor", layers, imageLayers)
	}
	checkStorage(t, s)

	if err := s.Remove(ctx, ref); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("Remove of an image a container uses = %v, want failed precondition", err)
	}
	if err := s.RemoveContainerLayer(ctx, "survivor"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, ref); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if images, layers := storedCounts(t, s); images != 0 || layers != 0 {
		t.Fatalf("after Remove: %d images and %d layers on disk, want none", images, layers)
	}
	if claims, err := s.claims.list(); err != nil || len(claims) != 0 {
		t.Fatalf("container layer owners left: %v, %v", claims, err)
	}
}

func TestStorageConsistentAfterCrashMidPull(t *testing.T) {
	requireRoot(t)
	stalled := startRegistry(t, testregistry.Options{})
	healthy := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, stalled, healthy)
	img, err := testregistry.LayeredImage(runtime.GOARCH, 5000, 3, 1<<20, testregistry.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := push(t, stalled, "crash/image:1", img)
	healthyRef, _ := push(t, healthy, "crash/image:1", img)
	digests := layerDigests(t, img)
	stalled.Stall(digests[2])

	env, _ := json.Marshal(crashChild{Opts: withoutCopier(opts), Ref: ref})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+string(env))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once the stalled layer is being downloaded and the others had
	// time to be committed.
	deadline := time.Now().Add(30 * time.Second)
	for stalled.BlobGets(digests[2]) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child never reached the stalled layer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()

	// Layers the killed pull was unpacking stay in staging directories
	// until the storage is next shut down cleanly.
	first, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, opts)
	checkStorage(t, s)
	if imgs, _ := storedCounts(t, s); imgs != 0 {
		t.Fatalf("a killed pull left %d images", imgs)
	}
	got, err := s.Pull(context.Background(), healthyRef, nil)
	if err != nil {
		t.Fatalf("pull after the crash: %v", err)
	}
	if got.ID != configID(t, img) {
		t.Fatalf("pulled %s, want %s", got.ID, configID(t, img))
	}
	checkStorage(t, s)
}

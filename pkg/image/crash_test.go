package image

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// crashChildEnv carries the options and reference of a pull that the test
// binary runs as a child process and the test kills midway.
const crashChildEnv = "CRISP_IMAGE_TEST_CRASH_CHILD"

type crashChild struct {
	Opts Options
	Ref  string
}

// runCrashChild pulls until it is killed.
func runCrashChild() int {
	var c crashChild
	if err := json.Unmarshal([]byte(os.Getenv(crashChildEnv)), &c); err != nil {
		return 2
	}
	s, err := Open(context.Background(), c.Opts)
	if err != nil {
		return 3
	}
	s.Pull(context.Background(), c.Ref, nil)
	return 4 // the registry never lets the pull finish
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

	env, _ := json.Marshal(crashChild{Opts: opts, Ref: ref})
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

package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/internal/exetest"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// helperTestEnv names, in a run of this test binary that
// TestPullsAndLoadsThroughHelper starts, the crisp-image every test store
// copies images in with.
const helperTestEnv = "CRISP_IMAGE_TEST_HELPER"

// placeHelper puts this test binary in a new directory as crisp-image, which
// makes it serve one helper request (transfer_test.go), and returns its path.
func placeHelper(t testing.TB) string { return exetest.Place(t, HelperName) }

// The daemon pulls with crisp-image: every test of pulls and loads passes
// with each copy made by a helper process, as with the in-process copier.
// The tests run again in a child test binary whose stores all use the
// Helper.
func TestPullsAndLoadsThroughHelper(t *testing.T) {
	if os.Getenv(helperTestEnv) != "" {
		t.Skip("already running through the helper")
	}
	requireRoot(t)
	// Progress lines are crisp-image's log there, which the test that reads
	// them in-process does not see.
	cmd := exec.Command(os.Args[0], "-test.run", "^(TestPull|TestLoad|TestDefaultRegistriesConf)", "-test.skip", "^TestPullLogsProgress$",
		"-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), helperTestEnv+"="+placeHelper(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the pull and load tests failed through crisp-image: %v\n%s", err, out)
	}
	// The child must have run them, not skipped them all.
	if n := bytes.Count(out, []byte("--- PASS: TestPull")); n < 10 {
		t.Fatalf("only %d pull tests passed through crisp-image:\n%s", n, out)
	}
}

// fakeHelper writes a shell script standing in for crisp-image.
func fakeHelper(t *testing.T, script string) Helper {
	t.Helper()
	path := filepath.Join(t.TempDir(), HelperName)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Helper{Path: path}
}

// What a broken or missing crisp-image answers is refused, bounded, and
// classed; a failed pull stores nothing.
func TestHelperAnswers(t *testing.T) {
	tests := []struct {
		name    string
		helper  func(t *testing.T) Helper
		wantErr string
		class   error
	}{
		{"missing", func(t *testing.T) Helper { return Helper{Path: filepath.Join(t.TempDir(), HelperName)} },
			"cannot run", errdefs.ErrFailedPrecondition},
		{"not executable", func(t *testing.T) Helper {
			h := fakeHelper(t, "exit 0")
			if err := os.Chmod(h.Path, 0o644); err != nil {
				t.Fatal(err)
			}
			return h
		}, "cannot run", errdefs.ErrFailedPrecondition},
		{"no answer", func(t *testing.T) Helper { return fakeHelper(t, "exit 3") }, "gave no answer", nil},
		{"garbage", func(t *testing.T) Helper { return fakeHelper(t, "echo nonsense") }, "gave no answer", nil},
		{"answer too long", func(t *testing.T) Helper {
			return fakeHelper(t, "head -c 1000000 /dev/zero | tr '\\0' ' '; echo '{}'")
		}, "answered more than", nil},
		{"classed failure", func(t *testing.T) Helper {
			return fakeHelper(t, `echo '{"error":"registry r: image not found","class":"not found"}'; exit 1`)
		}, "image not found", errdefs.ErrNotFound},
		{"unknown class", func(t *testing.T) Helper {
			return fakeHelper(t, `echo '{"error":"odd","class":"no such class"}'; exit 1`)
		}, "odd", nil},
		{"exit status without error", func(t *testing.T) Helper { return fakeHelper(t, `echo '{"ids":["a"]}'; exit 1`) }, "exit status 1", nil},
		{"two images for a pull", func(t *testing.T) Helper { return fakeHelper(t, `echo '{"ids":["a","b"]}'`) }, "answered 2 images", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, DriverOverlay)
			opts.Copier = tt.helper(t)
			s := openTestStore(t, opts)
			_, err := s.Pull(context.Background(), "127.0.0.1:1/some/image:1", nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Pull = %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.class != nil && !errors.Is(err, tt.class) {
				t.Errorf("Pull = %v, not classed %v", err, tt.class)
			}
			if c := errdefs.ClassOf(err); tt.class == nil && c != nil {
				t.Errorf("Pull = %v, classed %v", err, c)
			}
			if images, layers := storedCounts(t, s); images != 0 || layers != 0 {
				t.Errorf("%d images and %d layers stored", images, layers)
			}
		})
	}
}

// Registry credentials reach crisp-image on its standard input only: not in
// its arguments, not in its environment. A caller that gives up stops it,
// and what it stored is removed.
func TestHelperCredentialsAndCancel(t *testing.T) {
	creds := &testregistry.Credentials{Username: "alice", Password: "pw-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	reg := startRegistry(t, testregistry.Options{BasicAuth: creds})
	opts := testOptions(t, DriverOverlay, reg)
	h := Helper{Path: placeHelper(t)}
	opts.Copier = h
	s := openTestStore(t, opts)
	ref := stalledImage(t, reg, "slow/image:1")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Pull(ctx, ref, &Auth{Username: creds.Username, Password: creds.Password})
		done <- err
	}()
	pid := waitForProcess(t, h.Path)
	for _, file := range []string{"cmdline", "environ"} {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), file))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(creds.Password)) {
			t.Errorf("crisp-image's %s holds the password", file)
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Pull = %v, want it cancelled", err)
		}
	case <-time.After(helperGrace + 5*time.Second):
		t.Fatal("a cancelled pull did not return")
	}
	// The caller has its answer at once; the pull it gave up on ends in the
	// background: crisp-image exits, asked to (SIGTERM), and is reaped, and
	// then nothing is left.
	deadline := time.Now().Add(helperGrace + 5*time.Second)
	for {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
		images, layers := storedCounts(t, s)
		if errors.Is(err, os.ErrNotExist) && images == 0 && layers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a cancelled pull: crisp-image gone: %v; %d images and %d layers stored", err != nil, images, layers)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A crisp-image killed midway (SIGKILL, as a crash or the OOM killer would)
// fails the pull, and the layers it committed are removed.
func TestHelperKilledLeavesNothing(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	h := Helper{Path: placeHelper(t)}
	opts.Copier = h
	s := openTestStore(t, opts)
	ref := stalledImage(t, reg, "slow/image:1")

	done := make(chan error, 1)
	go func() {
		_, err := s.Pull(context.Background(), ref, nil)
		done <- err
	}()
	pid := waitForProcess(t, h.Path)
	// Let it commit the first layer, which the registry sends whole.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, layers := storedCounts(t, s); layers > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("crisp-image committed no layer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a pull whose crisp-image was killed succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pull whose crisp-image was killed did not return")
	}
	if images, layers := storedCounts(t, s); images != 0 || layers != 0 {
		t.Errorf("a killed pull left %d images and %d layers", images, layers)
	}
}

// A request crisp-image would refuse to read is refused before it starts.
func TestHelperRequestBounded(t *testing.T) {
	opts := testOptions(t, DriverOverlay)
	opts.Copier = fakeHelper(t, `echo '{"ids":["a"]}'`)
	s := openTestStore(t, opts)
	_, err := s.Pull(context.Background(), "127.0.0.1:1/some/image:1", &Auth{Password: strings.Repeat("p", MaxHelperRequest)})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("Pull = %v, want the request refused as too long", err)
	}
}

// waitForProcess returns the pid of a process running exe, failing after
// 10 s.
func waitForProcess(t *testing.T, exe string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && target == exe {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no process runs %s", exe)
	return 0
}

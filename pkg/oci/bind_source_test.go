package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// TestBindSourceSwappedForSymlink: a container sharing a host directory
// swaps a directory in it for a symlink to "/" while other containers are
// created with that directory as a bind source. None of them may ever see
// the host's root: each mounts the directory or is refused.
func TestBindSourceSwappedForSymlink(t *testing.T) {
	rt := newTestRuntime(t)
	// A file only the host's root directory has.
	marker := fmt.Sprintf("crisp-bind-source-test-%d", os.Getpid())
	if err := os.WriteFile(filepath.Join("/", marker), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/", marker)) })

	shared := t.TempDir()
	vol, spare := filepath.Join(shared, "vol"), filepath.Join(shared, "spare")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "inside"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", spare); err != nil {
		t.Fatal(err)
	}
	// The swapper exchanges the directory and the symlink atomically, so
	// vol is always one or the other.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, vol, unix.AT_FDCWD, spare, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("exchange: %v", err)
				return
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	const wantMounted = 10
	mounted, refused, hostRoot := 0, 0, 0
	for i := 0; mounted < wantMounted && i < 400; i++ {
		spec := testSpec(t, "sh", "-c", "if [ -e /mnt/"+marker+" ]; then echo HOSTROOT; elif [ -e /mnt/inside ]; then echo VOLUME; else echo NEITHER; fi")
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: vol, Options: []string{"rbind", "ro"}})
		id := fmt.Sprintf("bindswap%d", i)
		out := newOutputPipe(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := rt.Create(ctx, id, writeBundle(t, spec), CreateOptions{Stdout: out.w, Stderr: out.w})
		if err != nil {
			cancel()
			if !strings.Contains(err.Error(), "symlink") {
				t.Fatalf("create %s: %v, want a refusal for the symlink", id, err)
			}
			// A refused container leaves nothing behind.
			if _, err := rt.State(context.Background(), id); !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("state of refused %s = %v, want not found", id, err)
			}
			refused++
			continue
		}
		if err := rt.Start(ctx, id); err != nil {
			cancel()
			t.Fatalf("start %s: %v", id, err)
		}
		if _, err := rt.Wait(ctx, id); err != nil {
			cancel()
			t.Fatalf("wait %s: %v", id, err)
		}
		if err := rt.Delete(ctx, id, true); err != nil {
			cancel()
			t.Fatalf("delete %s: %v", id, err)
		}
		cancel()
		switch got := strings.TrimSpace(out.text(t)); got {
		case "VOLUME":
			mounted++
		case "HOSTROOT":
			hostRoot++
		default:
			t.Fatalf("container %s saw %q", id, got)
		}
	}
	t.Logf("%d mounted the directory, %d refused, %d saw the host root", mounted, refused, hostRoot)
	if hostRoot > 0 {
		t.Fatalf("%d containers saw the host's root through a swapped bind source", hostRoot)
	}
	if mounted < wantMounted {
		t.Fatalf("only %d containers mounted the directory", mounted)
	}
}

package spec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// A Localhost profile path is the request's: it may name a device, a FIFO,
// a directory or a huge file. Each is refused, promptly and with the field
// named, without the daemon reading more than the cap.
func TestLocalhostSeccompRefusesWhatIsNotAProfile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	// Valid JSON of more than the cap, so only the size can refuse it.
	data := `{"defaultAction": "SCMP_ACT_ALLOW", "comment": "` + strings.Repeat("x", maxSeccompProfileSize) + `"}`
	if err := os.WriteFile(big, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	zeroLink := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Fatalf("needs /dev/zero: %v", err)
	}
	for _, tc := range []struct {
		name, path, problem string
	}{
		{"/dev/zero", "/dev/zero", "not a regular file"},
		{"symlink to /dev/zero", zeroLink, "not a regular file"},
		{"FIFO", fifo, "not a regular file"},
		{"directory", dir, "not a regular file"},
		{"too big", big, "larger than"},
		{"relative", "profiles/x.json", "not an absolute path"},
		{"missing", filepath.Join(dir, "missing.json"), "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A FIFO without a writer would block an open for reading
			// forever: the call must return on its own.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := localhostSeccomp("linux.security_context.seccomp.localhost_ref", tc.path, &specs.Spec{})
				done <- err
			}()
			select {
			case err := <-done:
				var fe *errdefs.FieldError
				if !errors.As(err, &fe) || fe.Field != "linux.security_context.seccomp.localhost_ref" || !strings.Contains(fe.Problem, tc.problem) {
					t.Fatalf("localhostSeccomp(%s): %v, want a field error saying %q", tc.path, err, tc.problem)
				}
			case <-ctx.Done():
				t.Fatalf("localhostSeccomp(%s) still running after 10s", tc.path)
			}
		})
	}
}

func TestLocalhostSeccompReadsAProfileAtTheCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	head, tail := `{"defaultAction": "SCMP_ACT_ALLOW", "comment": "`, `"}`
	data := head + strings.Repeat("x", maxSeccompProfileSize-len(head)-len(tail)) + tail
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := localhostSeccomp("f", path, &specs.Spec{})
	if err != nil || p == nil || p.DefaultAction != specs.ActAllow {
		t.Fatalf("profile of exactly %d bytes: %+v, %v", maxSeccompProfileSize, p, err)
	}
}

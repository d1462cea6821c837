package crisptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// Daemon is one crisp process with its own root, state and socket, all
// below Dir. It may be started, stopped and killed many times over the same
// directories.
type Daemon struct {
	// Bin is the crisp binary.
	Bin string
	// Dir holds the config, root, state, socket, CNI directories and the
	// daemon's log.
	Dir, Config, Socket string
	// Root and State are the daemon's root and state directories.
	Root, State string
	// PrivateNetwork runs each start of the daemon in a new network
	// namespace with only loopback.
	PrivateNetwork bool
	// Netns, when set, is the path of a network namespace every start of
	// the daemon joins (see NewNetns); it outlives the daemon.
	Netns string
	// AddressSpaceLimit, when set, caps the daemon's virtual memory
	// (RLIMIT_AS, in bytes): a daemon that reads without bound dies
	// instead of taking the host's memory.
	AddressSpaceLimit uint64
	// Cmd is the running (or last) daemon process.
	Cmd  *exec.Cmd
	done chan error
	log  *os.File
}

// NewDaemon writes a config for bin that keeps every path inside a temp
// dir; extraTOML is added to the top-level [grpc] table's end.
func NewDaemon(t testing.TB, bin, extraTOML string) *Daemon {
	t.Helper()
	dir := t.TempDir()
	d := &Daemon{
		Bin:    bin,
		Dir:    dir,
		Config: filepath.Join(dir, "crisp.toml"),
		Socket: filepath.Join(dir, "run", "crisp.sock"),
		Root:   filepath.Join(dir, "root"),
		State:  filepath.Join(dir, "state"),
	}
	for _, sub := range []string{"cni/net.d", "cni/bin"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`root = %q
state = %q
[grpc]
address = "unix://%s"
shutdown_timeout = "5s"
%s
[cni]
conf_dir = %q
bin_dirs = [%q]
[cgroup]
mount = %q
missing_controller = "warn"
`, d.Root, d.State, d.Socket, extraTOML,
		filepath.Join(dir, "cni/net.d"), filepath.Join(dir, "cni/bin"), CgroupMount(t))
	if err := os.WriteFile(d.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.OpenFile(filepath.Join(dir, "crisp.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d.log = log
	t.Cleanup(func() { log.Close() })
	// The daemon makes its namespace pin directory a mount point; release
	// it before the temp dir is removed.
	t.Cleanup(func() { unix.Unmount(filepath.Join(d.State, "ns"), unix.MNT_DETACH) })
	return d
}

// CgroupMount is the host's cgroup v2 hierarchy: /sys/fs/cgroup on a pure
// v2 host, the cgroup2 mount of a hybrid one (as on crisp's build hosts).
func CgroupMount(t testing.TB) string {
	m := cgroups.FindMount()
	if m == "" {
		t.Skip("needs a cgroup2 mount")
	}
	return m
}

// Start starts the daemon with args and waits until it answers Version.
func (d *Daemon) Start(t testing.TB, args ...string) {
	t.Helper()
	if err := d.TryStart(args...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.Running() {
			d.Cmd.Process.Kill()
			<-d.done
		}
	})
}

// TryStart is Start returning its failure; the caller makes sure the
// daemon is stopped when the test ends.
func (d *Daemon) TryStart(args ...string) error {
	args = append([]string{"--config", d.Config}, args...)
	bin := d.Bin
	if d.AddressSpaceLimit != 0 {
		// prlimit execs the daemon with the limit set.
		args = append([]string{fmt.Sprintf("--as=%d", d.AddressSpaceLimit), "--", d.Bin}, args...)
		bin = "prlimit"
	}
	switch {
	case d.Netns != "":
		// nsenter execs the daemon: its pid is the daemon's.
		d.Cmd = exec.Command("nsenter", append([]string{"--net=" + d.Netns, "--", bin}, args...)...)
	case d.PrivateNetwork:
		// unshare execs the daemon in a new network namespace with only
		// loopback, so the pod network it builds never touches the host's.
		d.Cmd = exec.Command("unshare", append([]string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, bin}, args...)...)
	default:
		d.Cmd = exec.Command(bin, args...)
	}
	fmt.Fprintf(d.log, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	d.Cmd.Stderr = d.log
	if err := d.Cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	d.done = done
	cmd := d.Cmd
	go func() { done <- cmd.Wait() }()
	conn, err := d.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	c := runtimeapi.NewRuntimeServiceClient(conn)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(d.Socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := c.Version(ctx, &runtimeapi.VersionRequest{})
			cancel()
			if err == nil {
				return nil
			}
		}
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("daemon exited early: %v\n%s", err, d.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("daemon did not serve on %s\n%s", d.Socket, d.Log())
}

// Running reports whether the daemon process has been started and not
// yet waited for.
func (d *Daemon) Running() bool { return d.Cmd != nil && d.Cmd.ProcessState == nil }

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.Cmd.Process.Pid }

// Log is what the daemon has written to stderr, over every start.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.log.Name())
	return string(b)
}

func (d *Daemon) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+d.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
}

// Conn is a client connection to the daemon's socket, closed when the test
// ends. It reconnects across daemon restarts.
func (d *Daemon) Conn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	conn, err := d.dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Client is a RuntimeService client of the daemon.
func (d *Daemon) Client(t testing.TB) runtimeapi.RuntimeServiceClient {
	return runtimeapi.NewRuntimeServiceClient(d.Conn(t))
}

// Images is an ImageService client of the daemon.
func (d *Daemon) Images(t testing.TB) runtimeapi.ImageServiceClient {
	return runtimeapi.NewImageServiceClient(d.Conn(t))
}

// Stop sends sig and returns the exit error, failing after timeout.
func (d *Daemon) Stop(t testing.TB, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	if err := d.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		return err
	case <-time.After(timeout):
		t.Fatalf("daemon did not stop within %s after %v", timeout, sig)
		return nil
	}
}

// Kill SIGKILLs the daemon and waits for it to be gone.
func (d *Daemon) Kill(t testing.TB) {
	t.Helper()
	if err := d.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

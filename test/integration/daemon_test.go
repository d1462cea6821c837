package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// crispBin is the binary under test: $CRISP_BIN, or one built for this run.
var crispBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "integration tests need root: skipping")
		return 0
	}
	crispBin = os.Getenv("CRISP_BIN")
	if crispBin == "" {
		dir, err := os.MkdirTemp("", "crisp-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		crispBin = filepath.Join(dir, "crisp")
		build := exec.Command("go", "build", "-tags", "containers_image_openpgp exclude_graphdriver_btrfs",
			"-o", crispBin, "github.com/crisp-runtime/crisp/cmd/crisp")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build crisp:", err)
			return 1
		}
	}
	return m.Run()
}

// daemon is one crisp process with its own root, state and socket.
type daemon struct {
	dir, config, socket string
	// privateNetwork runs the daemon in a network namespace of its own.
	privateNetwork bool
	cmd            *exec.Cmd
	stderr         bytes.Buffer
	done           chan error
}

// newDaemon writes a config that keeps every path inside a temp dir.
func newDaemon(t *testing.T, extraTOML string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{dir: dir, config: filepath.Join(dir, "crisp.toml"), socket: filepath.Join(dir, "run", "crisp.sock")}
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
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), d.socket, extraTOML,
		filepath.Join(dir, "cni/net.d"), filepath.Join(dir, "cni/bin"), cgroup2Mount(t))
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The daemon makes its namespace pin directory a mount point; release
	// it before the temp dir is removed.
	t.Cleanup(func() { unix.Unmount(filepath.Join(dir, "state", "ns"), unix.MNT_DETACH) })
	return d
}

// cgroup2Mount is the host's cgroup v2 hierarchy: /sys/fs/cgroup on a pure
// v2 host, the cgroup2 mount of a hybrid one (as on crisp's build hosts).
func cgroup2Mount(t *testing.T) string {
	m := cgroups.FindMount()
	if m == "" {
		t.Skip("needs a cgroup2 mount")
	}
	return m
}

func (d *daemon) start(t *testing.T, args ...string) {
	t.Helper()
	d.cmd = exec.Command(crispBin, append([]string{"--config", d.config}, args...)...)
	if d.privateNetwork {
		// unshare execs the daemon in a new network namespace with only
		// loopback, so the pod network it builds never touches the host's.
		d.cmd = exec.Command("unshare", append([]string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, crispBin, "--config", d.config}, args...)...)
	}
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(d.socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c := d.client(t); c != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := c.Version(ctx, &runtimeapi.VersionRequest{})
				cancel()
				if err == nil {
					return
				}
			}
		}
		select {
		case err := <-d.done:
			t.Fatalf("daemon exited early: %v\n%s", err, d.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("daemon did not serve on %s\n%s", d.socket, d.stderr.String())
}

func (d *daemon) client(t *testing.T) runtimeapi.RuntimeServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+d.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn)
}

// stop sends sig and returns the exit error, failing after timeout.
func (d *daemon) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
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

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDaemonServesCRI(t *testing.T) {
	d := newDaemon(t, "")
	d.start(t, "--cgroup-driver", "cgroupfs")
	c := d.client(t)

	v, err := c.Version(ctx(t), &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "crisp" || v.RuntimeApiVersion != "v1" {
		t.Errorf("Version = %+v", v)
	}

	st, err := c.Status(ctx(t), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string]*runtimeapi.RuntimeCondition{}
	for _, cond := range st.Status.Conditions {
		conds[cond.Type] = cond
	}
	if c := conds[runtimeapi.RuntimeReady]; c == nil || !c.Status {
		t.Errorf("RuntimeReady = %+v, want true", c)
	}
	if c := conds[runtimeapi.NetworkReady]; c == nil || c.Status || c.Reason != "NetworkPluginNotReady" {
		t.Errorf("NetworkReady = %+v, want false/NetworkPluginNotReady with an empty CNI conf dir", c)
	}
	if !strings.Contains(st.Info["config"], d.socket) {
		t.Errorf("verbose info does not carry the effective config: %q", st.Info["config"])
	}

	rc, err := c.RuntimeConfig(ctx(t), &runtimeapi.RuntimeConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Linux.CgroupDriver != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("cgroup driver = %v, want the --cgroup-driver flag's cgroupfs", rc.Linux.CgroupDriver)
	}

	_, err = c.CheckpointContainer(ctx(t), &runtimeapi.CheckpointContainerRequest{ContainerId: "x"})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "CheckpointContainer") {
		t.Errorf("unbuilt RPC: %v, want Unimplemented naming it", err)
	}
}

func TestSocketModeAndGroup(t *testing.T) {
	d := newDaemon(t, "")
	d.start(t, "--socket-group", "4242")
	fi, err := os.Stat(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o660 {
		t.Errorf("socket mode %o, want 660", perm)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 0 || st.Gid != 4242 {
		t.Errorf("socket owner %d:%d, want 0:4242", st.Uid, st.Gid)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	d := newDaemon(t, "")
	if err := os.MkdirAll(filepath.Dir(d.socket), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.socket, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t) // start waits for a working socket
}

func TestSecondDaemonOnSameStateIsRefused(t *testing.T) {
	d := newDaemon(t, "")
	d.start(t)
	second := exec.Command(crispBin, "--config", d.config, "--listen", "unix://"+filepath.Join(d.dir, "other.sock"))
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("second daemon started on the same state dir:\n%s", out)
	}
	if !strings.Contains(string(out), "another crisp daemon") || !strings.Contains(string(out), fmt.Sprint(d.cmd.Process.Pid)) {
		t.Errorf("refusal does not say why or who: %s", out)
	}
	// The first one is unharmed.
	if _, err := d.client(t).Version(ctx(t), &runtimeapi.VersionRequest{}); err != nil {
		t.Errorf("first daemon stopped serving: %v", err)
	}
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			d := newDaemon(t, "")
			d.start(t)
			if err := d.stop(t, sig, 10*time.Second); err != nil {
				t.Fatalf("exit after %v: %v\n%s", sig, err, d.stderr.String())
			}
			if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
				t.Errorf("socket left behind after stop: %v", err)
			}
			// The state lock is free again: a new daemon starts.
			d2 := &daemon{dir: d.dir, config: d.config, socket: d.socket}
			d2.start(t)
		})
	}
}

func TestBadConfigIsReportedByKey(t *testing.T) {
	tests := []struct{ name, toml, want string }{
		{"unknown key", "bogus_key = true", `unknown key "grpc.bogus_key"`},
		{"invalid value", "socket_group = \"no-such-group-xyz\"", "grpc.socket_group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaemon(t, tt.toml)
			out, err := exec.Command(crispBin, "--config", d.config).CombinedOutput()
			if err == nil {
				t.Fatalf("daemon accepted a bad config:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("error does not name the key (%s):\n%s", tt.want, out)
			}
		})
	}
}

func TestConfigDefaultCommand(t *testing.T) {
	out, err := exec.Command(crispBin, "config", "default").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`root = "/var/lib/crisp"`, `state = "/run/crisp"`, "[grpc]", "[cgroup]", "[cni]", "[image]", "#"} {
		if !strings.Contains(string(out), key) {
			t.Errorf("default config lacks %q", key)
		}
	}
}

func TestRefusesAHierarchyThatIsNotCgroupV2(t *testing.T) {
	d := newDaemon(t, "")
	cfg, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	// /tmp stands for a v1 or hybrid /sys/fs/cgroup: not a cgroup2 mount.
	bad := regexp.MustCompile(`(?m)^mount = .*$`).ReplaceAllString(string(cfg), `mount = "/tmp"`)
	if err := os.WriteFile(d.config, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(crispBin, "--config", d.config).CombinedOutput()
	if err == nil {
		t.Fatalf("daemon started on a hierarchy that is not cgroup v2:\n%s", out)
	}
	if !strings.Contains(string(out), "[cgroup] mount") || !strings.Contains(string(out), "/tmp is not a cgroup v2") {
		t.Errorf("refusal does not say what to configure:\n%s", out)
	}
}

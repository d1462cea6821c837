package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/test/internal/crisptest"
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
		// Built as make builds it, with the crisp-image it pulls with
		// beside it.
		build := exec.Command("bash", "-c", `. hack/lib.sh && build_crisp "$1"`, "-", dir)
		build.Dir = filepath.Join("..", "..")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build crisp:", err)
			return 1
		}
	}
	return m.Run()
}

// daemon is one crisp process with its own root, state and socket.
type daemon = crisptest.Daemon

// newDaemon writes a config that keeps every path inside a temp dir.
func newDaemon(t *testing.T, extraTOML string) *daemon {
	return crisptest.NewDaemon(t, crispBin, extraTOML)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDaemonServesCRI(t *testing.T) {
	d := newDaemon(t, "")
	d.Start(t, "--cgroup-driver", "cgroupfs")
	c := d.Client(t)

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
	if !strings.Contains(st.Info["config"], d.Socket) {
		t.Errorf("verbose info does not carry the effective config: %q", st.Info["config"])
	}

	rc, err := c.RuntimeConfig(ctx(t), &runtimeapi.RuntimeConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Linux.CgroupDriver != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("cgroup driver = %v, want the --cgroup-driver flag's cgroupfs", rc.Linux.CgroupDriver)
	}

	_, err = c.CheckpointPod(ctx(t), &runtimeapi.CheckpointPodRequest{PodSandboxId: "x", OutputPath: t.TempDir(), ContainerIds: []string{"y"}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("CheckpointPod of a pod that does not exist: %v, want NotFound", err)
	}
}

func TestSocketModeAndGroup(t *testing.T) {
	// A group by number, and one by name: crisp's static build reads
	// /etc/group itself.
	groups := map[string]uint32{"4242": 4242}
	if g, err := user.LookupGroup("daemon"); err == nil {
		gid, _ := strconv.Atoi(g.Gid)
		groups["daemon"] = uint32(gid)
	}
	for group, gid := range groups {
		t.Run(group, func(t *testing.T) {
			d := newDaemon(t, "")
			d.Start(t, "--socket-group", group)
			fi, err := os.Stat(d.Socket)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o660 {
				t.Errorf("socket mode %o, want 660", perm)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != 0 || st.Gid != gid {
				t.Errorf("socket owner %d:%d, want 0:%d", st.Uid, st.Gid, gid)
			}
		})
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	d := newDaemon(t, "")
	if err := os.MkdirAll(filepath.Dir(d.Socket), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Socket, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start(t) // start waits for a working socket
}

func TestSecondDaemonOnSameStateIsRefused(t *testing.T) {
	d := newDaemon(t, "")
	d.Start(t)
	second := exec.Command(crispBin, "--config", d.Config, "--listen", "unix://"+filepath.Join(d.Dir, "other.sock"))
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("second daemon started on the same state dir:\n%s", out)
	}
	if !strings.Contains(string(out), "another crisp daemon") || !strings.Contains(string(out), fmt.Sprint(d.Pid())) {
		t.Errorf("refusal does not say why or who: %s", out)
	}
	// The first one is unharmed.
	if _, err := d.Client(t).Version(ctx(t), &runtimeapi.VersionRequest{}); err != nil {
		t.Errorf("first daemon stopped serving: %v", err)
	}
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			d := newDaemon(t, "")
			d.Start(t)
			if err := d.Stop(t, sig, 10*time.Second); err != nil {
				t.Fatalf("exit after %v: %v\n%s", sig, err, d.Log())
			}
			if _, err := os.Stat(d.Socket); !os.IsNotExist(err) {
				t.Errorf("socket left behind after stop: %v", err)
			}
			// The state lock is free again: a new daemon starts.
			d.Start(t)
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
			out, err := exec.Command(crispBin, "--config", d.Config).CombinedOutput()
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
	cfg, err := os.ReadFile(d.Config)
	if err != nil {
		t.Fatal(err)
	}
	// /tmp stands for a v1 or hybrid /sys/fs/cgroup: not a cgroup2 mount.
	bad := regexp.MustCompile(`(?m)^mount = .*$`).ReplaceAllString(string(cfg), `mount = "/tmp"`)
	if err := os.WriteFile(d.Config, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(crispBin, "--config", d.Config).CombinedOutput()
	if err == nil {
		t.Fatalf("daemon started on a hierarchy that is not cgroup v2:\n%s", out)
	}
	if !strings.Contains(string(out), "[cgroup] mount") || !strings.Contains(string(out), "/tmp is not a cgroup v2") {
		t.Errorf("refusal does not say what to configure:\n%s", out)
	}
}

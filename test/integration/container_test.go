package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/test/internal/crisptest"
)

// loadBusybox loads a busybox image into d's storage with the offline CLI
// and returns its reference.
func loadBusybox(t *testing.T, d *daemon) string { return crisptest.LoadBusybox(t, d) }

// containerJSON is a crictl container config running sh -c script.
func containerJSON(t *testing.T, d *daemon, name, image, script string) string {
	t.Helper()
	p := filepath.Join(d.Dir, name+".json")
	cfg := fmt.Sprintf(`{"metadata":{"name":%q},"image":{"image":%q},"command":["sh","-c",%q],"log_path":"%s.log","linux":{}}`,
		name, image, script, name)
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// containerState is what the tests read of crictl inspect.
type containerState struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
		LogPath  string `json:"logPath"`
	} `json:"status"`
	Info struct {
		Pid int `json:"pid"`
	} `json:"info"`
}

func inspectContainer(t *testing.T, d *daemon, id string) containerState {
	t.Helper()
	var st containerState
	decodeCrictlJSON(t, crictl(t, d, "inspect", "-o", "json", id), &st)
	return st
}

// waitContainerState polls crictl inspect until the container is in state.
func waitContainerState(t *testing.T, d *daemon, id, state string, timeout time.Duration) containerState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := inspectContainer(t, d, id)
		if st.Status.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s after %v, want %s", id, st.Status.State, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var criLogLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (stdout|stderr) (F|P) (.*)$`)

// logLines parses a CRI log file into "stream text" lines.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		m := criLogLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("log line %q is not in the CRI log format", line)
		}
		out = append(out, m[1]+" "+m[3])
	}
	return out
}

// TestCrictlContainerLifecycle drives containers through crictl the way
// kubelet does: pull, run a pod, create, start, log, exec, stop, remove; a
// daemon restart in the middle stops nothing and loses no log line.
func TestCrictlContainerLifecycle(t *testing.T) {
	d, _ := podNetworkDaemon(t, "")
	ref := loadBusybox(t, d)

	logDir := filepath.Join(d.Dir, "logs", "pod")
	podJSON := filepath.Join(d.Dir, "pod.json")
	pod := fmt.Sprintf(`{"metadata":{"name":"ctr-pod","namespace":"default","uid":"ctr-uid-1","attempt":0},
	         "hostname":"ctr-pod","log_directory":%q,"linux":{}}`, logDir)
	if err := os.WriteFile(podJSON, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	podID := strings.TrimSpace(crictl(t, d, "runp", podJSON))

	// A container that writes to both streams and exits 3.
	short := strings.TrimSpace(crictl(t, d, "create", podID,
		containerJSON(t, d, "short", ref, "echo hello; echo oops >&2; hostname; exit 3"), podJSON))
	if len(short) != 64 {
		t.Fatalf("create printed %q, want a container id", short)
	}
	if st := inspectContainer(t, d, short); st.Status.State != "CONTAINER_CREATED" {
		t.Errorf("created container is %s", st.Status.State)
	}
	crictl(t, d, "start", short)
	st := waitContainerState(t, d, short, "CONTAINER_EXITED", 10*time.Second)
	if st.Status.ExitCode != 3 || st.Status.Reason != "Error" || st.Status.LogPath != filepath.Join(logDir, "short.log") {
		t.Errorf("exited container: %+v", st.Status)
	}
	// Each stream keeps its order; the two pipes interleave as they are
	// read.
	var stdout, stderr []string
	for _, l := range logLines(t, st.Status.LogPath) {
		if text, ok := strings.CutPrefix(l, "stdout "); ok {
			stdout = append(stdout, text)
		} else if text, ok := strings.CutPrefix(l, "stderr "); ok {
			stderr = append(stderr, text)
		}
	}
	if got := strings.Join(stdout, "|") + " / " + strings.Join(stderr, "|"); got != "hello|ctr-pod / oops" {
		t.Errorf("log streams = %q, want %q", got, "hello|ctr-pod / oops")
	}

	// A long-running container: exec, then a daemon restart under it.
	long := strings.TrimSpace(crictl(t, d, "create", podID,
		containerJSON(t, d, "long", ref, "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.05; done"), podJSON))
	crictl(t, d, "start", long)
	st = waitContainerState(t, d, long, "CONTAINER_RUNNING", 10*time.Second)
	pid := st.Info.Pid
	if pid <= 0 {
		t.Fatalf("running container reports pid %d", pid)
	}
	if out := crictl(t, d, "exec", "-s", long, "sh", "-c", "echo in $(hostname); exit 0"); strings.TrimSpace(out) != "in ctr-pod" {
		t.Errorf("exec output %q, want %q", out, "in ctr-pod")
	}

	var stats struct {
		Stats []struct {
			Attributes struct {
				ID string `json:"id"`
			} `json:"attributes"`
			CPU struct {
				UsageCoreNanoSeconds struct {
					Value string `json:"value"`
				} `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
			WritableLayer struct {
				InodesUsed struct {
					Value string `json:"value"`
				} `json:"inodesUsed"`
			} `json:"writableLayer"`
		} `json:"stats"`
	}
	decodeCrictlJSON(t, crictl(t, d, "stats", "-o", "json", "--id", long), &stats)
	if len(stats.Stats) != 1 || stats.Stats[0].Attributes.ID != long || stats.Stats[0].CPU.UsageCoreNanoSeconds.Value == "" ||
		stats.Stats[0].WritableLayer.InodesUsed.Value == "" {
		t.Errorf("crictl stats = %+v", stats)
	}
	if out := crictl(t, d, "logs", short); out != "hello\nctr-pod\n" {
		t.Errorf("crictl logs (stdout) = %q", out)
	}

	if err := d.Stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("daemon stop: %v\n%s", err, d.Log())
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the container's process %d died with the daemon: %v", pid, err)
	}
	time.Sleep(300 * time.Millisecond) // the container keeps logging meanwhile
	d.Start(t)
	if st := inspectContainer(t, d, long); st.Status.State != "CONTAINER_RUNNING" || st.Info.Pid != pid {
		t.Errorf("after the daemon's restart the container is %s with pid %d, want running with %d", st.Status.State, st.Info.Pid, pid)
	}
	if st := inspectContainer(t, d, short); st.Status.State != "CONTAINER_EXITED" || st.Status.ExitCode != 3 {
		t.Errorf("after the daemon's restart the exited container is %s with code %d", st.Status.State, st.Status.ExitCode)
	}

	crictl(t, d, "stop", "--timeout", "5", long)
	st = waitContainerState(t, d, long, "CONTAINER_EXITED", 10*time.Second)
	if st.Status.ExitCode != 128+int(syscall.SIGTERM) {
		t.Errorf("stopped container exit code %d, want %d", st.Status.ExitCode, 128+int(syscall.SIGTERM))
	}
	// Every line, across the restart, in order and complete.
	lines := logLines(t, st.Status.LogPath)
	if len(lines) < 10 {
		t.Fatalf("only %d log lines", len(lines))
	}
	for i, l := range lines {
		if l != "stdout line "+strconv.Itoa(i) {
			t.Fatalf("log line %d is %q: a line was lost or garbled", i, l)
		}
	}

	// A container that ignores SIGTERM is killed when the timeout ends.
	stubborn := strings.TrimSpace(crictl(t, d, "create", podID,
		containerJSON(t, d, "stubborn", ref, "trap '' TERM; while :; do sleep 0.1; done"), podJSON))
	crictl(t, d, "start", stubborn)
	waitContainerState(t, d, stubborn, "CONTAINER_RUNNING", 10*time.Second)
	start := time.Now()
	crictl(t, d, "stop", "--timeout", "1", stubborn)
	st = waitContainerState(t, d, stubborn, "CONTAINER_EXITED", 10*time.Second)
	if st.Status.ExitCode != 128+int(syscall.SIGKILL) || time.Since(start) < time.Second {
		t.Errorf("stubborn container exit code %d after %v, want %d after the 1 s timeout", st.Status.ExitCode, time.Since(start), 128+int(syscall.SIGKILL))
	}

	if out := crictl(t, d, "ps", "-a", "-q", "--pod", podID); len(strings.Fields(out)) != 3 {
		t.Errorf("crictl ps -a lists %q, want 3 containers", out)
	}
	crictl(t, d, "rm", short, long)
	crictl(t, d, "stopp", podID)
	crictl(t, d, "rmp", podID)
	if out := crictl(t, d, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left after rmp: %q", out)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, d.Dir) && !strings.Contains(line, filepath.Join(d.Dir, "state", "ns")+" ") &&
			!strings.Contains(line, filepath.Join(d.Dir, "root", "overlay")+" ") {
			t.Errorf("mount left behind: %s", line)
		}
	}
}

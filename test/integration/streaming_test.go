package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crictlInNetwork runs crictl in d's network namespace, where the
// streaming server listens on loopback, feeding it stdin. It returns
// crictl's output and exit code.
func crictlInNetwork(t *testing.T, d *daemon, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := crictlCommand(t, d, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("crictl %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// crictlCommand is crictl with args, to run in d's network namespace.
func crictlCommand(t *testing.T, d *daemon, args ...string) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("crictl")
	if err != nil {
		t.Skip("needs crictl on PATH (hack/install-tools.sh installs it)")
	}
	// An empty configuration of its own: without one crictl warns on
	// stderr that /etc/crictl.yaml is missing, as on a fresh machine.
	config := filepath.Join(d.Dir, "crictl.yaml")
	if err := os.WriteFile(config, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return exec.Command("nsenter", append([]string{"--net=" + netnsOf(d), "--", path, "--config", config,
		"--runtime-endpoint", "unix://" + d.Socket, "--image-endpoint", "unix://" + d.Socket}, args...)...)
}

// netnsOf is the network namespace d runs in.
func netnsOf(d *daemon) string { return fmt.Sprintf("/proc/%d/ns/net", d.Pid()) }

// TestCrictlExecAndPortForward runs crictl's streaming commands against a
// pod on the pod network: exec with both output streams and an exit code,
// exec with stdin, and a port forward to a web server inside the pod.
func TestCrictlExecAndPortForward(t *testing.T) {
	d, _ := podNetworkDaemon(t, "")
	ref := loadBusybox(t, d)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux) to run crictl in the daemon's network namespace")
	}
	podJSON := filepath.Join(d.Dir, "pod.json")
	pod := fmt.Sprintf(`{"metadata":{"name":"stream-pod","namespace":"default","uid":"stream-uid-1","attempt":0},
	         "hostname":"stream-pod","log_directory":%q,"linux":{}}`, filepath.Join(d.Dir, "logs", "pod"))
	if err := os.WriteFile(podJSON, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	podID := strings.TrimSpace(crictl(t, d, "runp", podJSON))
	// The pod's containers outlive the daemon: remove them however the
	// test ends.
	t.Cleanup(func() { crictl(t, d, "rmp", "--force", podID) })
	// The web server listens on the pod's loopback only: a forward must
	// reach it from inside the pod's network namespace.
	script := "mkdir -p /www && echo hello from the pod > /www/index.html && exec busybox httpd -f -p 127.0.0.1:8080 -h /www"
	id := strings.TrimSpace(crictl(t, d, "create", podID, containerJSON(t, d, "web", ref, script), podJSON))
	crictl(t, d, "start", id)
	waitContainerState(t, d, id, "CONTAINER_RUNNING", 10*time.Second)

	t.Run("exec", func(t *testing.T) {
		// crictl reports the command's exit code and fails itself.
		stdout, stderr, code := crictlInNetwork(t, d, "", "exec", id, "sh", "-c", "echo out; echo err >&2; exit 4")
		if stdout != "out\n" || !strings.HasPrefix(stderr, "err\n") || !strings.Contains(stderr, "command terminated with exit code 4") || code == 0 {
			t.Errorf("crictl exec = %q, %q, exit %d; want out, err and exit code 4", stdout, stderr, code)
		}
		if stdout, stderr, code := crictlInNetwork(t, d, "", "exec", id, "cat", "/etc/hostname"); stdout != "stream-pod\n" || code != 0 {
			t.Errorf("crictl exec cat /etc/hostname = %q, %q, exit %d", stdout, stderr, code)
		}
	})

	t.Run("exec with stdin", func(t *testing.T) {
		stdout, stderr, code := crictlInNetwork(t, d, "one\ntwo\n", "exec", "-i", id, "sh", "-c", "cat; echo done")
		if stdout != "one\ntwo\ndone\n" || code != 0 {
			t.Errorf("crictl exec -i = %q, %q, exit %d; want the input echoed, then done", stdout, stderr, code)
		}
	})

	t.Run("exec with a terminal", func(t *testing.T) {
		if _, err := exec.LookPath("script"); err != nil {
			t.Skip("needs script (util-linux) to give crictl a terminal")
		}
		// script runs crictl on a terminal of a known size, which crictl
		// passes on to the exec's terminal. Its own terminal may echo a
		// byte or two before crictl makes it raw.
		args := crictlCommand(t, d, "exec", "-it", id, "sh", "-c", "tty; stty size").Args
		line := "stty rows 30 cols 100; exec " + shellQuote(args)
		// script passes its stdin on to the terminal: it must not end
		// before the command does (a runner's stdin may be /dev/null),
		// or the end of input hangs the exec's terminal up.
		stdinR, stdinW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer stdinW.Close()
		cmd := exec.Command("script", "-qec", line, "/dev/null")
		cmd.Stdin = stdinR
		out, err := cmd.CombinedOutput()
		stdinR.Close()
		if err != nil || !regexp.MustCompile(`/dev/pts/\d+\r\n30 100\r\n$`).Match(out) {
			t.Errorf("crictl exec -it = %q, %v; want the terminal's name and size", out, err)
		}
	})

	t.Run("attach with stdin", func(t *testing.T) {
		// A container that reads its stdin once, as kubectl run -i makes
		// it: crictl attach's input reaches it, and the end of that
		// input ends the container.
		cfg := containerJSON(t, d, "reader", ref, "echo ready; while read l; do echo got $l; done; echo stdin closed")
		data, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		withStdin := strings.Replace(string(data), `"linux":{}`, `"linux":{},"stdin":true,"stdin_once":true`, 1)
		if err := os.WriteFile(cfg, []byte(withStdin), 0o644); err != nil {
			t.Fatal(err)
		}
		reader := strings.TrimSpace(crictl(t, d, "create", podID, cfg, podJSON))
		crictl(t, d, "start", reader)
		waitContainerState(t, d, reader, "CONTAINER_RUNNING", 10*time.Second)
		stdout, stderr, code := crictlInNetwork(t, d, "hello\nworld\n", "attach", "-i", reader)
		if code != 0 || !strings.Contains(stdout, "got hello\ngot world\nstdin closed\n") {
			t.Errorf("crictl attach -i = %q, %q, exit %d; want the input echoed, then the end of stdin", stdout, stderr, code)
		}
		st := waitContainerState(t, d, reader, "CONTAINER_EXITED", 10*time.Second)
		if st.Status.ExitCode != 0 {
			t.Errorf("the reader exited with %d", st.Status.ExitCode)
		}
	})

	t.Run("port forward", func(t *testing.T) {
		cmd := crictlCommand(t, d, "port-forward", podID, ":8080")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		local := forwardedPort(t, out)
		if local == 0 {
			t.Fatalf("crictl port-forward never said where it listens: %s", stderr.String())
		}
		// The local end is in the daemon's network namespace too.
		url := "http://127.0.0.1:" + strconv.Itoa(local) + "/"
		page, err := exec.Command("nsenter", "--net="+netnsOf(d), "--", "/bin/busybox", "wget", "-q", "-O", "-", url).CombinedOutput()
		if err != nil || string(page) != "hello from the pod\n" {
			t.Errorf("fetching %s through the forward: %q, %v\n%s", url, page, err, stderr.String())
		}
	})
}

var forwardingLine = regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)

// forwardedPort reads crictl port-forward's output up to the line naming
// its local IPv4 port, and keeps draining the rest.
func forwardedPort(t *testing.T, out io.Reader) int {
	t.Helper()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := forwardingLine.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, out)
			port, _ := strconv.Atoi(m[1])
			return port
		}
	}
	return 0
}

// shellQuote joins args into one sh command line.
func shellQuote(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

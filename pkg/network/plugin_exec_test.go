package network

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A plugin runs with GOMAXPROCS=n, unless crisp's environment (which
// libcni passes on) sets GOMAXPROCS already: that value is kept.
func TestPluginExecSetsGOMAXPROCS(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\nenv\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newPluginExec(PluginProcess{GOMAXPROCS: 1})
	for _, tc := range []struct {
		environ []string
		want    string
	}{
		{[]string{"PATH=/usr/bin:/bin", "CNI_COMMAND=VERSION"}, "GOMAXPROCS=1"},
		{[]string{"PATH=/usr/bin:/bin", "GOMAXPROCS=3", "CNI_COMMAND=VERSION"}, "GOMAXPROCS=3"},
	} {
		out, err := e.ExecPlugin(context.Background(), plugin, nil, tc.environ)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, kv := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(kv, "GOMAXPROCS=") {
				got = append(got, kv)
			}
		}
		if !slices.Equal(got, []string{tc.want}) {
			t.Errorf("environ %q: the plugin saw %q, want only %s", tc.environ, got, tc.want)
		}
	}
}

// withGOMAXPROCS leaves the caller's slice as it was.
func TestWithGOMAXPROCSCopies(t *testing.T) {
	environ := make([]string, 1, 4)
	environ[0] = "A=1"
	out := withGOMAXPROCS(environ, 2)
	if !slices.Equal(out, []string{"A=1", "GOMAXPROCS=2"}) {
		t.Fatalf("withGOMAXPROCS = %q", out)
	}
	if extended := environ[:2]; extended[1] != "" {
		t.Errorf("the caller's backing array was written: %q", extended)
	}
}

// The manager's plugins get the settings through libcni, for ADD and DEL
// alike; without them they get crisp's environment and timer slack.
func TestManagerRunsPluginsAsSet(t *testing.T) {
	// libcni passes the test's environment on: without GOMAXPROCS, as a
	// daemon started without it. t.Setenv restores it afterwards.
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		process PluginProcess
		want    string // what the plugin sees, per command
	}{
		{PluginProcess{GOMAXPROCS: 1, TimerSlack: 4 * time.Millisecond}, "1 4000000"},
		{PluginProcess{GOMAXPROCS: 1}, fmt.Sprintf("1 %d", own)},
		{PluginProcess{}, fmt.Sprintf("unset %d", own)},
	} {
		confDir, binDir := t.TempDir(), t.TempDir()
		seen := filepath.Join(t.TempDir(), "seen")
		// The plugin records its command, GOMAXPROCS and timer slack, and
		// answers with an empty result.
		script := "#!/bin/sh\necho \"$CNI_COMMAND ${GOMAXPROCS-unset} $(cat /proc/self/timerslack_ns)\" >>" + seen + "\necho '{\"cniVersion\":\"1.0.0\"}'\n"
		if err := os.WriteFile(filepath.Join(binDir, "recorder"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		conf := `{"cniVersion":"1.0.0","name":"rec","plugins":[{"type":"recorder"}]}`
		if err := os.WriteFile(filepath.Join(confDir, "10-rec.conflist"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		m := NewManager(confDir, []string{binDir}, t.TempDir())
		m.SetPluginProcess(tc.process)
		p := &Pod{ID: "settings", Name: "n", Namespace: "ns", UID: "u", NetNS: "/proc/self/ns/net"}
		// The empty result has no address: Attach fails after ADD and
		// runs DEL.
		_, _ = m.Attach(context.Background(), p)
		out, err := os.ReadFile(seen)
		if err != nil {
			t.Fatal(err)
		}
		if want := "ADD " + tc.want + "\nDEL " + tc.want + "\n"; string(out) != want {
			t.Errorf("%+v: the plugin saw %q, want %q", tc.process, out, want)
		}
	}
}

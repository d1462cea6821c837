package network

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A plugin runs with GOMAXPROCS=n, unless crisp's environment (which
// libcni passes on) sets GOMAXPROCS already: that value is kept.
func TestPluginExecSetsGOMAXPROCS(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\nenv\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newPluginExec(1)
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

// The manager's plugins get the setting through libcni, for ADD and DEL
// alike; without it they get crisp's environment as it is.
func TestManagerRunsPluginsWithGOMAXPROCS(t *testing.T) {
	// libcni passes the test's environment on: without GOMAXPROCS, as a
	// daemon started without it. t.Setenv restores it afterwards.
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	for _, n := range []int{1, 0} {
		confDir, binDir := t.TempDir(), t.TempDir()
		seen := filepath.Join(t.TempDir(), "seen")
		// The plugin records its command and GOMAXPROCS, and answers with
		// an empty result.
		script := "#!/bin/sh\necho \"$CNI_COMMAND ${GOMAXPROCS-unset}\" >>" + seen + "\necho '{\"cniVersion\":\"1.0.0\"}'\n"
		if err := os.WriteFile(filepath.Join(binDir, "recorder"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		conf := `{"cniVersion":"1.0.0","name":"rec","plugins":[{"type":"recorder"}]}`
		if err := os.WriteFile(filepath.Join(confDir, "10-rec.conflist"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		m := NewManager(confDir, []string{binDir}, t.TempDir())
		m.SetPluginGOMAXPROCS(n)
		p := &Pod{ID: "gomaxprocs", Name: "n", Namespace: "ns", UID: "u", NetNS: "/proc/self/ns/net"}
		// The empty result has no address: Attach fails after ADD and
		// runs DEL.
		_, _ = m.Attach(context.Background(), p)
		out, err := os.ReadFile(seen)
		if err != nil {
			t.Fatal(err)
		}
		want := "ADD 1\nDEL 1\n"
		if n == 0 {
			want = "ADD unset\nDEL unset\n"
		}
		if string(out) != want {
			t.Errorf("plugin_gomaxprocs %d: the plugin saw %q, want %q", n, out, want)
		}
	}
}

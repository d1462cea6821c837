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

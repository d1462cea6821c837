package network

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

// pluginExec executes CNI plugins as libcni does by default, with
// GOMAXPROCS set in their environment unless it is there already. A plugin
// is a short, sequential program, mostly written in Go, whose runtime
// otherwise starts threads and per-CPU caches it never uses: with
// GOMAXPROCS=1 the standard bridge plugin starts with about 60 page faults
// and a millisecond of CPU fewer here, and so does the IPAM plugin it
// executes in turn, which inherits its environment.
type pluginExec struct {
	invoke.Exec
	gomaxprocs int
}

func newPluginExec(gomaxprocs int) invoke.Exec {
	return &pluginExec{
		Exec:       &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}},
		gomaxprocs: gomaxprocs,
	}
}

// ExecPlugin runs the plugin with environ, plus GOMAXPROCS.
func (e *pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	return e.Exec.ExecPlugin(ctx, pluginPath, stdinData, withGOMAXPROCS(environ, e.gomaxprocs))
}

// withGOMAXPROCS returns environ with GOMAXPROCS=n added, unless environ
// sets GOMAXPROCS already (an admin's choice, from crisp's environment).
func withGOMAXPROCS(environ []string, n int) []string {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return environ
		}
	}
	return append(environ[:len(environ):len(environ)], "GOMAXPROCS="+strconv.Itoa(n))
}

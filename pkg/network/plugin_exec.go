package network

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/crisp-runtime/crisp/pkg/timerslack"
)

// PluginProcess says how the processes of CNI plugins run. A plugin is a
// short, sequential program, mostly written in Go, and the standard
// plugins (bridge, and the IPAM plugin it executes in turn, which inherits
// both settings) are.
type PluginProcess struct {
	// GOMAXPROCS is set in a plugin's environment unless crisp's sets it
	// already (an admin's choice); 0 leaves the environment as crisp's.
	// The Go runtime otherwise starts threads and per-CPU caches the
	// plugin never uses: with GOMAXPROCS=1 the bridge plugin starts with
	// about 60 page faults and a millisecond of CPU fewer here.
	GOMAXPROCS int
	// TimerSlack is a plugin's timer slack (pkg/timerslack), up to
	// timerslack.Max; 0 leaves it crisp's. A plugin needs no timer
	// precision, and a larger slack coalesces its Go runtime's wake-ups:
	// with 4 ms, a bridge plugin's ADD took 35.2 ms instead of 36.8 and
	// its DEL 45.5 instead of 49.7 here (docs/pods.md).
	TimerSlack time.Duration
}

// pluginExec executes CNI plugins as libcni does by default, with
// PluginProcess applied.
type pluginExec struct {
	invoke.Exec
	process PluginProcess
}

func newPluginExec(p PluginProcess) invoke.Exec {
	return &pluginExec{
		Exec:    &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}},
		process: p,
	}
}

// ExecPlugin runs the plugin with environ, plus GOMAXPROCS, and its timer
// slack.
func (e *pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	if e.process.GOMAXPROCS > 0 {
		environ = withGOMAXPROCS(environ, e.process.GOMAXPROCS)
	}
	var out []byte
	err := timerslack.With(e.process.TimerSlack, func() (err error) {
		out, err = e.Exec.ExecPlugin(ctx, pluginPath, stdinData, environ)
		return err
	})
	return out, err
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

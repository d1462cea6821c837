// Command crisp-oci is crisp's OCI executor on its own, a runc-compatible
// command line: `crisp-oci run`, `crisp-oci create`, … take runc's flags.
// It links only the executor, so it starts in a fraction of the time the
// whole crisp binary (images, CNI, CRI) takes; `crisp oci …` hands over to
// a crisp-oci installed beside crisp.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/crisp-runtime/crisp/cmd/internal/ocicli"
)

func main() {
	restoreCallerEnv()
	if err := newRootCommand(os.Args[1:]).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "crisp:", err)
		os.Exit(1)
	}
}

// handoverMark is set, with GOMAXPROCS, by crisp's hand-over of `crisp oci
// …` for this program's Go runtime alone (cmd/crisp/handover.c).
const handoverMark = "_CRISP_OCI_GOMAXPROCS"

// restoreCallerEnv removes what the hand-over added to the environment,
// so that the processes this one starts (hooks, crisp for a checkpoint)
// see the caller's.
func restoreCallerEnv() {
	if _, ok := os.LookupEnv(handoverMark); ok {
		os.Unsetenv("GOMAXPROCS")
		os.Unsetenv(handoverMark)
	}
}

// newRootCommand is the executor's command itself, or, when crisp handed
// `crisp oci …` over (args start with "oci"), that command below a crisp
// root, so that usage and errors read as they do in crisp. Either is built
// for args: only the subcommand they name, when they name one.
func newRootCommand(args []string) *cobra.Command {
	// No CRIU protocol: checkpoint and restore are handed back to crisp.
	program := ocicli.Program{ChildTimerSlack: callerTimerSlack()}
	if len(args) > 0 && args[0] == "oci" {
		root := &cobra.Command{Use: "crisp", SilenceUsage: true, SilenceErrors: true}
		// crisp keeps its own completion command: `crisp completion` is
		// never handed over.
		root.CompletionOptions.DisableDefaultCmd = true
		root.AddCommand(ocicli.NewCommandFor("oci", args[1:], program))
		ocicli.AddLogFlags(root)
		return root
	}
	root := ocicli.NewCommandFor("crisp-oci", args, program)
	ocicli.AddLogFlags(root)
	return root
}

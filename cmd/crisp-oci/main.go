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
	if err := newRootCommand(os.Args[1:]).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "crisp:", err)
		os.Exit(1)
	}
}

// newRootCommand is the executor's command itself, or, when crisp handed
// `crisp oci …` over (args start with "oci"), that command below a crisp
// root, so that usage and errors read as they do in crisp.
func newRootCommand(args []string) *cobra.Command {
	if len(args) > 0 && args[0] == "oci" {
		root := &cobra.Command{Use: "crisp", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(ocicli.NewCommand("oci", nil))
		ocicli.AddLogFlags(root)
		return root
	}
	root := ocicli.NewCommand("crisp-oci", nil)
	ocicli.AddLogFlags(root)
	return root
}

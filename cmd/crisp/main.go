// Command crisp is a Kubernetes CRI v1 node runtime with pause-less pods and an
// in-process OCI executor. Run without a subcommand it serves CRI; its other
// subcommands administer images and drive the executor directly.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.podman.io/storage/pkg/reexec"

	"github.com/crisp-runtime/crisp/cmd/internal/ocicli"
	"github.com/crisp-runtime/crisp/pkg/criu/criupb"
	// Its constructor stops read-ahead of the binary's read-only data.
	_ "github.com/crisp-runtime/crisp/pkg/readahead"
)

func main() {
	// crisp re-executed to enter a container never gets here: the C
	// constructor of pkg/oci/nsenter runs the container's init before Go
	// starts. go.podman.io/storage re-executes crisp to apply image
	// layers.
	if reexec.Init() {
		return
	}
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "crisp:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	opts := &serveOptions{}
	root := &cobra.Command{
		Use:   "crisp",
		Short: "Kubernetes node runtime with pause-less pods and an in-process OCI executor",
		Long: `crisp serves the Kubernetes Container Runtime Interface (CRI v1) on a unix
socket for kubelet and crictl. Pods need no pause container: their network,
IPC and UTS namespaces are pinned by bind mounts. Containers are run by an
OCI executor inside the crisp binary, on cgroup v2.

Run without a subcommand (or as "crisp serve") to start the daemon.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, opts)
		},
	}
	opts.addFlags(root)

	ocicli.AddLogFlags(root)

	root.AddCommand(
		newServeCommand(),
		newVersionCommand(),
		newConfigCommand(),
		ocicli.NewCommand("oci", criupb.Codec{}),
		newImagesCommand(),
	)
	return root
}

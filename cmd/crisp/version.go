package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/crisp-runtime/crisp/pkg/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the crisp version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %s\nCRI API: v1\ngo: %s %s/%s\n",
				version.Name, version.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

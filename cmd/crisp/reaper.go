package main

import (
	"github.com/spf13/cobra"

	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// newReaperCommand is the hidden entry point of the process that holds a
// pod's shared PID namespace (see pkg/sandbox).
func newReaperCommand() *cobra.Command {
	return &cobra.Command{
		Use:    sandbox.ReaperCommand + " POD-ID",
		Short:  "Hold a pod's shared PID namespace (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(*cobra.Command, []string) error {
			return sandbox.RunReaper()
		},
	}
}

package ocicli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// subcommand is one of `crisp oci`'s subcommands: the names it answers to
// and how to build it.
type subcommand struct {
	names []string
	build func(*ociOptions) *cobra.Command
}

// subcommands are `crisp oci`'s subcommands, in the order usage lists
// them. Each one's names are its cobra name and aliases
// (TestSubcommandNames).
func subcommands() []subcommand {
	noOptions := func(build func() *cobra.Command) func(*ociOptions) *cobra.Command {
		return func(*ociOptions) *cobra.Command { return build() }
	}
	return []subcommand{
		{[]string{"create"}, newOCICreateCommand},
		{[]string{"start"}, newOCIStartCommand},
		{[]string{"run"}, newOCIRunCommand},
		{[]string{"state"}, newOCIStateCommand},
		{[]string{"kill"}, newOCIKillCommand},
		{[]string{"delete"}, newOCIDeleteCommand},
		{[]string{"exec"}, newOCIExecCommand},
		{[]string{"ps"}, newOCIPsCommand},
		{[]string{"list", "ls"}, newOCIListCommand},
		{[]string{"pause"}, newOCIPauseCommand},
		{[]string{"resume"}, newOCIResumeCommand},
		{[]string{"update"}, newOCIUpdateCommand},
		{[]string{"features"}, noOptions(newOCIFeaturesCommand)},
		{[]string{"spec"}, noOptions(newOCISpecCommand)},
		{[]string{"checkpoint"}, newOCICheckpointCommand},
		{[]string{"restore"}, newOCIRestoreCommand},
	}
}

// lookupSubcommand finds the subcommand called name.
func lookupSubcommand(all []subcommand, name string) (subcommand, bool) {
	if name == "" {
		return subcommand{}, false
	}
	for _, sub := range all {
		if slices.Contains(sub.names, name) {
			return sub, true
		}
	}
	return subcommand{}, false
}

// subcommandName is the first argument that is not a flag of flags or its
// value, as cobra would find the subcommand; "" when args have none or
// when it cannot tell: a flag flags does not define (whether it takes a
// value is unknown), a short flag, or "--".
func subcommandName(args []string, flags *pflag.FlagSet) string {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return ""
		}
		if len(arg) < 2 || arg[0] != '-' {
			return arg
		}
		name, ok := strings.CutPrefix(arg, "--")
		if !ok {
			return ""
		}
		name, _, hasValue := strings.Cut(name, "=")
		flag := flags.Lookup(name)
		if flag == nil {
			return ""
		}
		if !hasValue && flag.NoOptDefVal == "" {
			// The value is the next argument.
			i++
		}
	}
	return ""
}

package ocicli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crisp-runtime/crisp/pkg/oci"
)

func newOCIPsCommand(opts *ociOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps <container-id>",
		Short: "List the processes of a container",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		pids, err := rt.Ps(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if format == "json" {
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		}
		w := tabwriter.NewWriter(os.Stdout, 4, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PID\tCMD")
		for _, pid := range pids {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			fmt.Fprintf(w, "%d\t%s", pid, comm)
		}
		return w.Flush()
	})
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}

func newOCIListCommand(opts *ociOptions) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, _ []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		states, err := rt.List(cmd.Context())
		if err != nil {
			return err
		}
		switch {
		case quiet:
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		case format == "json":
			if states == nil {
				states = []*oci.State{}
			}
			return json.NewEncoder(os.Stdout).Encode(states)
		}
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
		for _, s := range states {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), "root")
		}
		return w.Flush()
	})
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print ids only")
	return cmd
}

func newOCIFeaturesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "Print the features of the executor as JSON (runtime-spec features format)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return printJSON(oci.Features())
		},
	}
}

func newOCISpecCommand() *cobra.Command {
	var bundle string
	cmd := &cobra.Command{
		Use:   "spec",
		Short: "Write a default config.json into the bundle directory",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			path := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s exists: remove it first", path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			data, err := json.MarshalIndent(oci.Example(), "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(path, append(data, '\n'), 0o644)
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "bundle directory to write config.json into")
	return cmd
}

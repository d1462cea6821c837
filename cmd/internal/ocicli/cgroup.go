package ocicli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func newOCIPauseCommand(opts *ociOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pause <container-id>",
		Short: "Freeze every process of a container (cgroup freezer)",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return rt.Pause(cmd.Context(), args[0])
	})
	return cmd
}

func newOCIResumeCommand(opts *ociOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resume <container-id>",
		Short: "Thaw a paused container",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return rt.Resume(cmd.Context(), args[0])
	})
	return cmd
}

// updateFlags are runc update's flags.
type updateFlags struct {
	resources  string
	memory     int64
	memorySwap int64
	cpuQuota   int64
	cpuPeriod  uint64
	cpuShares  uint64
	pidsLimit  int64
	cpusetCpus string
	cpusetMems string
}

func newOCIUpdateCommand(opts *ociOptions) *cobra.Command {
	f := &updateFlags{}
	cmd := &cobra.Command{
		Use:   "update <container-id>",
		Short: "Change a container's resource limits",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		res, err := f.build(cmd)
		if err != nil {
			return err
		}
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return rt.Update(cmd.Context(), args[0], res)
	})
	fl := cmd.Flags()
	fl.StringVarP(&f.resources, "resources", "r", "", `JSON file with linux.resources ("-" for stdin)`)
	fl.Int64Var(&f.memory, "memory", 0, "memory limit in bytes")
	fl.Int64Var(&f.memorySwap, "memory-swap", 0, "memory plus swap limit in bytes")
	fl.Int64Var(&f.cpuQuota, "cpu-quota", 0, "CPU time in microseconds per period")
	fl.Uint64Var(&f.cpuPeriod, "cpu-period", 0, "CPU period in microseconds")
	fl.Uint64Var(&f.cpuShares, "cpu-share", 0, "CPU shares (relative weight)")
	fl.Int64Var(&f.pidsLimit, "pids-limit", 0, "maximum number of processes")
	fl.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs to run on")
	fl.StringVar(&f.cpusetMems, "cpuset-mems", "", "memory nodes to allocate from")
	return cmd
}

// build assembles the update from --resources and the single flags.
func (f *updateFlags) build(cmd *cobra.Command) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if f.resources != "" {
		var r io.Reader = os.Stdin
		if f.resources != "-" {
			file, err := os.Open(f.resources)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer file.Close()
			r = file
		}
		if err := json.NewDecoder(r).Decode(res); err != nil {
			return nil, fmt.Errorf("--resources: %w", err)
		}
	}
	set := cmd.Flags().Changed
	if set("memory") || set("memory-swap") {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		if set("memory") {
			res.Memory.Limit = &f.memory
		}
		if set("memory-swap") {
			res.Memory.Swap = &f.memorySwap
		}
	}
	if set("cpu-quota") || set("cpu-period") || set("cpu-share") || set("cpuset-cpus") || set("cpuset-mems") {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		if set("cpu-quota") {
			res.CPU.Quota = &f.cpuQuota
		}
		if set("cpu-period") {
			res.CPU.Period = &f.cpuPeriod
		}
		if set("cpu-share") {
			res.CPU.Shares = &f.cpuShares
		}
		if set("cpuset-cpus") {
			res.CPU.Cpus = f.cpusetCpus
		}
		if set("cpuset-mems") {
			res.CPU.Mems = f.cpusetMems
		}
	}
	if set("pids-limit") {
		res.Pids = &specs.LinuxPids{Limit: &f.pidsLimit}
	}
	return res, nil
}

package ocicli

import (
	"context"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/crisp-runtime/crisp/pkg/oci"
)

// criuFlags are the CRIU options checkpoint and restore share.
type criuFlags struct {
	imagePath, workPath, manageCgroupsMode         string
	tcpEstablished, extUnixSk, shellJob, fileLocks bool
}

func (f *criuFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.imagePath, "image-path", "", "directory of the checkpoint's images (default ./checkpoint)")
	cmd.Flags().StringVar(&f.workPath, "work-path", "", "directory for CRIU's log and work files (default: the image path)")
	cmd.Flags().StringVar(&f.manageCgroupsMode, "manage-cgroups-mode", "", "CRIU's cgroup mode: soft, full, strict or ignore")
	cmd.Flags().BoolVar(&f.tcpEstablished, "tcp-established", false, "allow established TCP connections")
	cmd.Flags().BoolVar(&f.extUnixSk, "ext-unix-sk", false, "allow unix sockets with peers outside the container")
	cmd.Flags().BoolVar(&f.shellJob, "shell-job", false, "allow a process attached to a terminal (a shell job)")
	cmd.Flags().BoolVar(&f.fileLocks, "file-locks", false, "allow held file locks")
}

// images is --image-path, ./checkpoint by default as in runc.
func (f *criuFlags) images() string {
	if f.imagePath != "" {
		return f.imagePath
	}
	return "checkpoint"
}

func newOCICheckpointCommand(opts *ociOptions) *cobra.Command {
	f := &criuFlags{}
	var parentPath string
	var leaveRunning, preDump bool
	cmd := &cobra.Command{
		Use:   "checkpoint <container-id>",
		Short: "Write a running container's processes to CRIU images; it stops unless --leave-running",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		if opts.criuCodec == nil {
			return opts.handBackToCrisp()
		}
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return rt.Checkpoint(cmd.Context(), args[0], oci.CheckpointOptions{
			ImagePath: f.images(), WorkPath: f.workPath, ParentPath: parentPath,
			LeaveRunning: leaveRunning, PreDump: preDump, ManageCgroupsMode: f.manageCgroupsMode,
			TCPEstablished: f.tcpEstablished, ExtUnixSk: f.extUnixSk, ShellJob: f.shellJob, FileLocks: f.fileLocks,
		})
	})
	f.add(cmd)
	cmd.Flags().StringVar(&parentPath, "parent-path", "", "images of an earlier pre-dump, relative to the image path")
	cmd.Flags().BoolVar(&leaveRunning, "leave-running", false, "keep the container running after the checkpoint")
	cmd.Flags().BoolVar(&preDump, "pre-dump", false, "write only the memory, leaving the container running, for a later checkpoint with --parent-path")
	return cmd
}

func newOCIRestoreCommand(opts *ociOptions) *cobra.Command {
	f := &criuFlags{}
	c := &createFlags{}
	var detach bool
	cmd := &cobra.Command{
		Use:   "restore <container-id>",
		Short: "Make a running container from a bundle and a checkpoint's images; without --detach wait for it, delete it and return its exit status",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		if opts.criuCodec == nil {
			return opts.handBackToCrisp()
		}
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return restoreContainer(cmd.Context(), rt, args[0], c, f, detach)
	})
	f.add(cmd)
	c.add(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the container")
	return cmd
}

// restoreContainer is `restore`: restore and, in the foreground, wait with
// signals forwarded, delete and return the exit status, as `run` does.
func restoreContainer(ctx context.Context, rt *oci.Runtime, id string, c *createFlags, f *criuFlags, detach bool) error {
	sigs := make(chan os.Signal, 16)
	if !detach {
		signal.Notify(sigs, forwardedSignals()...)
	}
	err := rt.Restore(ctx, id, c.bundle, oci.CreateOptions{
		ConsoleSocket: c.consoleSocket, NoPivot: c.noPivot, ExtraFiles: preservedFiles(c.preserveFDs),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}, oci.RestoreOptions{
		ImagePath: f.images(), WorkPath: f.workPath, ManageCgroupsMode: f.manageCgroupsMode,
		TCPEstablished: f.tcpEstablished, ExtUnixSk: f.extUnixSk, ShellJob: f.shellJob, FileLocks: f.fileLocks,
	})
	if err != nil {
		return err
	}
	st, err := rt.State(ctx, id)
	if err != nil {
		return err
	}
	if err := writePidFile(c.pidFile, st.Pid); err != nil {
		return err
	}
	if detach {
		return nil
	}
	go forwardSignals(ctx, rt, id, sigs, nil)
	exit, err := rt.Wait(ctx, id)
	if derr := rt.Delete(context.WithoutCancel(ctx), id, true); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	if exit.Code != 0 {
		return &ociExitError{code: exit.Code}
	}
	return nil
}

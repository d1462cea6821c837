package ocicli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/oci"
)

// createFlags are shared by create and run.
type createFlags struct {
	bundle        string
	consoleSocket string
	pidFile       string
	noPivot       bool
	preserveFDs   int
}

func (f *createFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.bundle, "bundle", "b", ".", "path to the bundle directory")
	cmd.Flags().StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pseudo-terminal master")
	cmd.Flags().StringVar(&f.pidFile, "pid-file", "", "file to write the container process's pid to")
	cmd.Flags().BoolVar(&f.noPivot, "no-pivot", false, "use MS_MOVE and chroot instead of pivot_root")
	cmd.Flags().IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many descriptors from 3 up to the container's process")
}

func (f *createFlags) create(ctx context.Context, rt *oci.Runtime, id string) error {
	return f.createWith(ctx, rt, id, nil)
}

// createWith is create with console asked for the console socket when the
// process wants a terminal and --console-socket names none.
func (f *createFlags) createWith(ctx context.Context, rt *oci.Runtime, id string, console func() (string, error)) error {
	err := rt.Create(ctx, id, f.bundle, oci.CreateOptions{
		ConsoleSocket: f.consoleSocket, Console: console, NoPivot: f.noPivot, ExtraFiles: preservedFiles(f.preserveFDs),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
	if err != nil || f.pidFile == "" {
		return err
	}
	st, err := rt.State(ctx, id)
	if err != nil {
		return err
	}
	return writePidFile(f.pidFile, st.Pid)
}

func newOCICreateCommand(opts *ociOptions) *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "create <container-id>",
		Short: "Create a container; its process waits for start",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return f.create(cmd.Context(), rt, args[0])
	})
	f.add(cmd)
	return cmd
}

func newOCIStartCommand(opts *ociOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start <container-id>",
		Short: "Run the process of a created container",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return rt.Start(cmd.Context(), args[0])
	})
	return cmd
}

func newOCIRunCommand(opts *ociOptions) *cobra.Command {
	f := &createFlags{}
	var detach bool
	cmd := &cobra.Command{
		Use:   "run <container-id>",
		Short: "Create and start a container; without --detach wait for it, delete it and return its exit status",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return runContainer(cmd.Context(), rt, args[0], f, detach)
	})
	f.add(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the container")
	return cmd
}

// runContainer is `run`: create, start and, in the foreground, wait with
// signals forwarded, delete and return the exit status.
func runContainer(ctx context.Context, rt *oci.Runtime, id string, f *createFlags, detach bool) error {
	// Like runc: a process that wants a terminal in the foreground gets
	// one this command receives and relays.
	var tty *consoleProxy
	var console func() (string, error)
	if !detach && f.consoleSocket == "" {
		console = func() (string, error) {
			var err error
			if tty, err = newConsoleProxy(); err != nil {
				return "", err
			}
			return tty.socketPath, nil
		}
		defer func() {
			if tty != nil {
				tty.Close()
			}
		}()
	}
	// Subscribing to signals costs a round trip with the Go runtime's
	// signal thread per signal: do it while the container is created.
	// Signals that arrive meanwhile wait in the channel.
	sigs := make(chan os.Signal, 16)
	subscribed := make(chan struct{})
	if detach {
		close(subscribed)
	} else {
		go func() {
			signal.Notify(sigs, forwardedSignals()...)
			close(subscribed)
		}()
	}
	if err := f.createWith(ctx, rt, id, console); err != nil {
		return err
	}
	if tty != nil {
		if err := tty.accept(); err != nil {
			_ = rt.Delete(context.WithoutCancel(ctx), id, true)
			return err
		}
	}
	<-subscribed
	// No signal.Stop: the command ends with the container.
	if err := rt.Start(ctx, id); err != nil {
		_ = rt.Delete(context.WithoutCancel(ctx), id, true)
		return err
	}
	if detach {
		return nil
	}
	if tty != nil {
		tty.relay()
	}
	go forwardSignals(ctx, rt, id, sigs, tty)
	st, err := rt.Wait(ctx, id)
	if tty != nil {
		tty.drain()
	}
	if derr := rt.Delete(context.WithoutCancel(ctx), id, true); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	if st.Code != 0 {
		return &ociExitError{code: st.Code}
	}
	return nil
}

// preservedFiles are the n descriptors from 3 up that crisp was started
// with, for --preserve-fds.
func preservedFiles(n int) []*os.File {
	files := make([]*os.File, 0, max(n, 0))
	for i := range n {
		files = append(files, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	return files
}

// forwardedSignals are the signals `run` relays to the container, as runc
// does: all that can be caught but SIGCHLD, SIGPIPE (about crisp's own
// output) and SIGURG (the Go runtime's preemption); SIGWINCH resizes the
// terminal.
func forwardedSignals() []os.Signal {
	// Signals 32 and 33 are glibc's own (thread cancellation and setxid).
	const lastStandard, firstRealtime, lastRealtime = 31, 34, 64
	var sigs []os.Signal
	for s := syscall.Signal(1); s <= lastRealtime; s++ {
		switch {
		case s == unix.SIGKILL, s == unix.SIGSTOP, s == unix.SIGCHLD, s == unix.SIGPIPE, s == unix.SIGURG:
			continue
		case s > lastStandard && s < firstRealtime:
			continue
		}
		sigs = append(sigs, s)
	}
	return sigs
}

// forwardSignals relays the signals crisp receives to the container's init.
func forwardSignals(ctx context.Context, rt *oci.Runtime, id string, sigs <-chan os.Signal, tty *consoleProxy) {
	for s := range sigs {
		sig := s.(syscall.Signal)
		switch sig {
		case unix.SIGWINCH:
			if tty != nil {
				tty.resize()
			}
			continue
		}
		_ = rt.Kill(ctx, id, sig, false)
	}
}

func newOCIStateCommand(opts *ociOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state <container-id>",
		Short: "Print a container's state as JSON",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		st, err := rt.State(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return printJSON(st)
	})
	return cmd
}

func newOCIKillCommand(opts *ociOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill <container-id> [signal]",
		Short: "Send a signal (default SIGTERM) to a container's init, or with --all to all its processes",
		Args:  cobra.RangeArgs(1, 2),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		sig := unix.SIGTERM
		if len(args) == 2 {
			var err error
			if sig, err = parseSignal(args[1]); err != nil {
				return err
			}
		}
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return rt.Kill(cmd.Context(), args[0], sig, all)
	})
	cmd.Flags().BoolVarP(&all, "all", "a", false, "signal every process of the container")
	return cmd
}

// parseSignal accepts "9", "KILL" and "SIGKILL".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func newOCIDeleteCommand(opts *ociOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete <container-id>",
		Short: "Delete a stopped or created container (--force: also a running one)",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		return rt.Delete(cmd.Context(), args[0], force)
	})
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container if it runs")
	return cmd
}

// Package ocicli is the command line of crisp's OCI executor, with runc's
// subcommands and flag names. Two programs serve it: crisp, as `crisp oci`,
// and crisp-oci, which links nothing else (no image, CNI or CRI code) and so
// starts in a fraction of crisp's time; crisp hands `crisp oci` over to a
// crisp-oci installed beside it (cmd/crisp/handover.c).
package ocicli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/criu"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// ociOptions are the global flags of `crisp oci`, named as runc's.
type ociOptions struct {
	root              string
	cgroupMount       string
	missingController string
	log               string
	logFormat         string
	systemdCgroup     bool
	debug             bool
	rootless          string
	criu              string
	// criuCodec is CRIU's protocol, nil in a program that links none
	// (crisp-oci): its checkpoint and restore hand back to crisp.
	criuCodec criu.Codec
	// childTimerSlack is Program.ChildTimerSlack.
	childTimerSlack time.Duration
}

// runtime opens the executor with the global flags.
func (o *ociOptions) runtime() (*oci.Runtime, error) {
	missing, err := cgroups.ParseMissingPolicy(o.missingController)
	if err != nil {
		return nil, err
	}
	return oci.New(oci.Options{
		Root: o.root, CgroupMount: o.cgroupMount, MissingController: missing, SystemdCgroup: o.systemdCgroup,
		Criu: o.criu, CRIU: o.criuCodec, ChildTimerSlack: o.childTimerSlack,
	})
}

// ociExitError carries an exit code for `run` and `exec`, which return the
// container process's status.
type ociExitError struct{ code int }

// Error describes the exit status.
func (e *ociExitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// NewCommand is `crisp oci`: runc's subcommands and global flags over
// crisp's executor. The caller names it: "oci" below crisp's root command,
// or "crisp-oci" as a program of its own, and gives it CRIU's protocol
// (criupb.Codec), or nil to have checkpoint and restore served by the crisp
// installed beside the program.
func NewCommand(name string, codec criu.Codec) *cobra.Command {
	return NewCommandFor(name, nil, Program{CRIU: codec})
}

// Program is what the program serving the command tells it about itself.
type Program struct {
	// CRIU is CRIU's protocol (criupb.Codec), or nil to have checkpoint
	// and restore served by the crisp installed beside the program.
	CRIU criu.Codec
	// ChildTimerSlack is the timer slack of the processes the command
	// starts, when the program's own threads run with a larger one
	// (crisp-oci, cmd/crisp-oci/timerslack.c); 0 leaves them the
	// program's.
	ChildTimerSlack time.Duration
}

// NewCommandFor is NewCommand built for one command line, args being the
// arguments after the command's own name: when they name a subcommand
// after global flags only, that subcommand is the only one built. A
// command then sets up one subcommand's flags instead of sixteen, and no
// completion command (about 1.8 ms of a `crisp-oci run` on a 2-core
// host, docs/oci.md). Arguments that name none (usage, help, an unknown
// command, a flag other than the global ones) get the whole tree.
func NewCommandFor(name string, args []string, p Program) *cobra.Command {
	opts := &ociOptions{criuCodec: p.CRIU, childTimerSlack: p.ChildTimerSlack}
	cmd := &cobra.Command{
		Use:   name,
		Short: "Run containers from OCI bundles with crisp's executor (runc's commands and flags)",
		Long: `crisp oci drives crisp's in-process OCI executor with runc's subcommands
and flag names, so that admins and tools that drive runc can drive crisp.
State lives under --root; any crisp process can act on a container another
one created.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.checkRootless(); err != nil {
				return err
			}
			if opts.debug {
				if err := cmd.Root().PersistentFlags().Set("v", "4"); err != nil {
					return err
				}
			}
			return opts.setupLog()
		},
	}
	f := cmd.PersistentFlags()
	f.StringVar(&opts.root, "root", oci.DefaultRoot, "root directory for container state")
	f.StringVar(&opts.cgroupMount, "cgroup-mount", "", "cgroup2 mount point (default /sys/fs/cgroup; pass /sys/fs/cgroup/unified on a hybrid host)")
	f.StringVar(&opts.missingController, "missing-controller", "error", "a limit whose cgroup controller is missing: error or warn")
	f.StringVar(&opts.log, "log", "", "log file (default stderr)")
	f.StringVar(&opts.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&opts.systemdCgroup, "systemd-cgroup", false, "cgroupsPath is systemd's slice:prefix:name (default system.slice:crisp:<id>)")
	f.BoolVar(&opts.debug, "debug", false, "log at debug level (-v 4)")
	f.StringVar(&opts.rootless, "rootless", "auto", "runc's flag: only false or auto (as root) are supported")
	f.StringVar(&opts.criu, "criu", "criu", "CRIU binary for checkpoint and restore")
	all := subcommands()
	if sub, ok := lookupSubcommand(all, subcommandName(args, f)); ok {
		cmd.AddCommand(sub.build(opts))
		// Completion is for a command line still being written.
		cmd.CompletionOptions.DisableDefaultCmd = true
		return cmd
	}
	for _, sub := range all {
		cmd.AddCommand(sub.build(opts))
	}
	return cmd
}

// checkRootless refuses --rootless=true, and auto when not root: crisp oci
// runs containers as root only.
func (o *ociOptions) checkRootless() error {
	switch o.rootless {
	case "false":
		return nil
	case "auto":
		if os.Geteuid() == 0 {
			return nil
		}
	case "true":
	default:
		return fmt.Errorf("--rootless: %q is not one of true, false, auto", o.rootless)
	}
	return fmt.Errorf("--rootless: crisp oci runs containers as root only")
}

// setupLog sends klog's output to --log.
func (o *ociOptions) setupLog() error {
	switch o.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format: %q is not one of text, json", o.logFormat)
	}
	if o.log == "" {
		return nil
	}
	f, err := os.OpenFile(o.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	klog.LogToStderr(false)
	if o.logFormat == "json" {
		klog.SetOutput(&jsonLines{w: f})
	} else {
		klog.SetOutput(f)
	}
	return nil
}

// jsonLines turns klog's text lines into runc-style JSON log lines, so that
// a tool reading --log-format json can decode every line.
type jsonLines struct{ w io.Writer }

// Write wraps one klog line in JSON.
func (j *jsonLines) Write(p []byte) (int, error) {
	level := "info"
	if len(p) > 0 && (p[0] == 'E' || p[0] == 'F') {
		level = "error"
	} else if len(p) > 0 && p[0] == 'W' {
		level = "warning"
	}
	line, err := json.Marshal(map[string]string{
		"level": level, "msg": strings.TrimRight(string(p), "\n"), "time": time.Now().UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return 0, err
	}
	if _, err := j.w.Write(append(line, '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}

// report writes a failed command's error to --log in its format, as runc
// does for the tools that read its log.
func (o *ociOptions) report(err error) {
	if o.log == "" {
		return
	}
	f, ferr := os.OpenFile(o.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if ferr != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if o.logFormat == "json" {
		line, _ := json.Marshal(map[string]string{"level": "error", "msg": err.Error(), "time": now})
		fmt.Fprintf(f, "%s\n", line)
		return
	}
	fmt.Fprintf(f, "time=%q level=error msg=%q\n", now, err.Error())
}

// wrap adapts an oci command: errors go to --log too, and a container
// process's exit status becomes crisp's, as with runc run and exec.
func (o *ociOptions) wrap(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		var exit *ociExitError
		if errors.As(err, &exit) {
			os.Exit(exit.code)
		}
		if err != nil {
			o.report(err)
		}
		return err
	}
}

// writePidFile writes the init's pid as runc does: atomically.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d", pid)), 0o600); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// AddLogFlags gives root klog's -v and --vmodule, which apply to every
// subcommand (--debug sets -v 4); klog's other flags keep their defaults
// (log to stderr).
func AddLogFlags(root *cobra.Command) {
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	for _, name := range []string{"v", "vmodule"} {
		root.PersistentFlags().AddGoFlag(klogFlags.Lookup(name))
	}
	root.PersistentFlags().Lookup("v").Shorthand = "v"
}

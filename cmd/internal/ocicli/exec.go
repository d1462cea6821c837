package ocicli

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/crisp-runtime/crisp/pkg/oci"
)

// execFlags are runc exec's flags.
type execFlags struct {
	processFile   string
	consoleSocket string
	pidFile       string
	tty           bool
	detach        bool
	cwd           string
	env           []string
	user          string
	groups        []string
	caps          []string
	noNewPrivs    bool
	preserveFDs   int
}

func newOCIExecCommand(opts *ociOptions) *cobra.Command {
	f := &execFlags{}
	cmd := &cobra.Command{
		Use:   "exec <container-id> [command [args...]]",
		Short: "Run another process in a running container; returns its exit status",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().SetInterspersed(false)
	cmd.RunE = opts.wrap(func(cmd *cobra.Command, args []string) error {
		rt, err := opts.runtime()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		id := args[0]
		spec, err := rt.Spec(ctx, id)
		if err != nil {
			return err
		}
		proc, err := f.process(args[1:], spec)
		if err != nil {
			return err
		}
		var tty *consoleProxy
		socket := f.consoleSocket
		if proc.Terminal && socket == "" && !f.detach {
			if tty, err = newConsoleProxy(); err != nil {
				return err
			}
			defer tty.Close()
			socket = tty.socketPath
		}
		p, err := rt.Exec(ctx, id, proc, oci.ExecOptions{
			ConsoleSocket: socket, Detach: f.detach, ExtraFiles: preservedFiles(f.preserveFDs),
			Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		})
		if err != nil {
			return err
		}
		if err := writePidFile(f.pidFile, p.Pid); err != nil {
			return err
		}
		if f.detach {
			return nil
		}
		if tty != nil {
			if err := tty.accept(); err != nil {
				return err
			}
			tty.relay()
		}
		es, err := p.Wait()
		if tty != nil {
			tty.drain()
		}
		if err != nil {
			return err
		}
		if es.Code != 0 {
			return &ociExitError{code: es.Code}
		}
		return nil
	})
	fl := cmd.Flags()
	fl.StringVarP(&f.processFile, "process", "p", "", "JSON file with the process (an OCI process object)")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pseudo-terminal master")
	fl.StringVar(&f.pidFile, "pid-file", "", "file to write the process's pid to")
	fl.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-terminal")
	fl.BoolVarP(&f.detach, "detach", "d", false, "do not wait for the process")
	fl.StringVar(&f.cwd, "cwd", "", "working directory (default: the container's)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (repeatable)")
	fl.StringVarP(&f.user, "user", "u", "", "uid[:gid]")
	fl.StringArrayVarP(&f.groups, "additional-gids", "g", nil, "additional gid (repeatable)")
	fl.StringArrayVarP(&f.caps, "cap", "c", nil, "add a capability (repeatable)")
	fl.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many descriptors from 3 up to the process")
	return cmd
}

// process builds the exec'd process: from --process, or from the
// container's process with the command and flags applied.
func (f *execFlags) process(command []string, spec *specs.Spec) (*specs.Process, error) {
	if f.processFile != "" {
		data, err := os.ReadFile(f.processFile)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		p := &specs.Process{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", f.processFile, err)
		}
		return p, nil
	}
	if len(command) == 0 {
		return nil, fmt.Errorf("exec: no command given (and no --process)")
	}
	p := *spec.Process
	p.Args, p.Terminal, p.ConsoleSize = command, f.tty, nil
	p.Env = append(append([]string(nil), p.Env...), f.env...)
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	if f.noNewPrivs {
		p.NoNewPrivileges = true
	}
	if f.user != "" {
		uid, gid, _ := strings.Cut(f.user, ":")
		u, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user: %q is not a uid", uid)
		}
		p.User.UID = uint32(u)
		if gid != "" {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user: %q is not a gid", gid)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, g := range f.groups {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--additional-gids: %q is not a gid", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
	}
	if len(f.caps) > 0 {
		c := specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			c = *p.Capabilities
		}
		c.Bounding = append(append([]string(nil), c.Bounding...), f.caps...)
		c.Effective = append(append([]string(nil), c.Effective...), f.caps...)
		c.Permitted = append(append([]string(nil), c.Permitted...), f.caps...)
		p.Capabilities = &c
	}
	return &p, nil
}

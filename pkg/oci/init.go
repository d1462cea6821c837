package oci

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/seccomp"

	// The constructor that enters namespaces before Go starts.
	_ "github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// initSyncFD is the sync socket's descriptor in a re-executed crisp.
const initSyncFD = 3

// IsInit reports whether this process is crisp re-executed to enter a
// container. main must then call Init before anything else.
func IsInit() bool { return os.Getenv("_CRISP_INIT_SYNC") != "" }

// Init sets up the container from the configuration its parent sends and
// executes the container's process. It never returns.
func Init() {
	runtime.LockOSThread()
	conn := newSyncConn(os.NewFile(initSyncFD, "sync"))
	err := runInit(conn)
	// runInit returns only on failure.
	if sendErr := conn.send(errorMessage(err)); sendErr != nil {
		fmt.Fprintln(os.Stderr, "crisp init:", err)
	}
	os.Exit(1)
}

func runInit(conn *syncConn) error {
	os.Clearenv()
	unix.CloseOnExec(initSyncFD)
	cfg := &initConfig{}
	if err := conn.recv(cfg); err != nil {
		return err
	}
	for _, fd := range []int{cfg.StateDirFD, cfg.ConsoleFD} {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	spec, proc := cfg.Spec, cfg.Process
	warn := func(format string, args ...any) {
		_ = conn.send(&message{Type: msgWarning, Message: fmt.Sprintf(format, args...)})
	}
	if !cfg.Exec {
		// A joined mount namespace has its root already.
		if cfg.JoinedMountNS {
			if err := createHooks(conn, cfg); err != nil {
				return err
			}
			if err := setupNamespaced(spec); err != nil {
				return err
			}
		} else if err := setupRootfs(conn, cfg); err != nil {
			return err
		}
	}
	if proc.Terminal {
		if err := setupConsole(cfg.ConsoleFD, proc.ConsoleSize); err != nil {
			return err
		}
	}
	if err := unix.Chdir(proc.Cwd); err != nil {
		return fmt.Errorf("process.cwd %s: %w", proc.Cwd, err)
	}
	if err := applyRlimits(proc.Rlimits); err != nil {
		return err
	}
	if proc.OOMScoreAdj != nil {
		if err := applyOOMScoreAdj(*proc.OOMScoreAdj, warn); err != nil {
			return err
		}
	}
	path, err := lookPath(proc)
	if err != nil {
		return err
	}
	var filter *seccomp.Filter
	if spec.Linux.Seccomp != nil {
		if filter, err = seccomp.Compile(spec.Linux.Seccomp, func(msg string) { warn("%s", msg) }); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it
	// while the process still has it (runc does the same).
	if filter != nil && !proc.NoNewPrivileges {
		if err := filter.Install(); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	if err := setupCredentials(proc); err != nil {
		return err
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	if err := conn.send(&message{Type: msgReady}); err != nil {
		return err
	}
	if !cfg.Exec {
		// Block until Start opens the fifo for reading.
		fd, err := unix.Openat(cfg.StateDirFD, fifoFile, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return failAfterReady(fmt.Errorf("open start fifo: %w", err))
		}
		fifo := os.NewFile(uintptr(fd), fifoFile)
		if _, err := fifo.Write([]byte{0}); err != nil {
			return failAfterReady(fmt.Errorf("write start fifo: %w", err))
		}
		// The fifo stays open until exec closes it (O_CLOEXEC): Start
		// returns once the reader sees its end, after the process runs.
		defer fifo.Close()
		if spec.Hooks != nil {
			st := *cfg.State
			st.Status = specs.StateRunning
			if err := runHooks(context.Background(), "startContainer", spec.Hooks.StartContainer, &st); err != nil {
				return failAfterReady(err)
			}
		}
	}
	if filter != nil && proc.NoNewPrivileges {
		if err := filter.Install(); err != nil {
			return failAfterReady(fmt.Errorf("linux.seccomp: %w", err))
		}
	}
	if err := unix.Exec(path, proc.Args, proc.Env); err != nil {
		return failAfterReady(fmt.Errorf("exec %s: %w", path, err))
	}
	return nil
}

// setupNamespaced sets the hostname, domain name and sysctls, in the
// container's namespaces, before /proc/sys becomes read-only.
func setupNamespaced(spec *specs.Spec) error {
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("domainname: %w", err)
		}
	}
	return applySysctls(spec.Linux.Sysctl)
}

// failAfterReady reports a failure once the parent stopped listening: on
// the process's stderr, which is what its caller sees.
func failAfterReady(err error) error {
	fmt.Fprintln(os.Stderr, "crisp init:", err)
	os.Exit(127)
	return err
}

// lookPath finds the process's executable with the process's own PATH.
func lookPath(proc *specs.Process) (string, error) {
	name := proc.Args[0]
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", errdefs.InvalidField("process.args[0]", err.Error())
		}
		return name, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range proc.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errdefs.InvalidField("process.args[0]", fmt.Sprintf("%q: %v in PATH %s", name, exec.ErrNotFound, pathEnv))
}

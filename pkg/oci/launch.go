package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/proc"
	"github.com/crisp-runtime/crisp/pkg/timerslack"
)

// launch describes a crisp process to start inside a container.
type launch struct {
	exe      *sealedExe
	spares   *spares // nil: always execute crisp
	ns       nsPlan
	cgroup   *containerCgroup // nil: stay in the caller's cgroup
	stateDir *os.File         // where the monitor records the exit status
	detach   bool             // the monitor is not the caller's child
	uidMaps  []specs.LinuxIDMapping
	gidMaps  []specs.LinuxIDMapping
	extra    []*os.File // more descriptors for the init, after crisp's own
	preserve []*os.File // descriptors the process gets at 3 and up
	logDir   *os.File   // with logName: the directory of the log
	logName  string     // the monitor writes the process's output to this file in logDir
	stdin    string     // with logName: "open" or "once" for a stdin pipe the monitor holds
	// ttySocket, with logName, is the monitor's end of the socket on which
	// the init sends the terminal's master.
	ttySocket *os.File
	stdio     [3]*os.File
	// criu, for a restore, is the socket on which CRIU serves (criu
	// swrk), which the monitor's child executes from criuPath in place of
	// an init.
	criu     *os.File
	criuPath string
	// slack is the timer slack of the process executed (Options.ChildTimerSlack).
	slack time.Duration
}

// setLog has the monitor write the process's output to opts.LogPath, and
// hold its stdin as opts asks. The caller closes l.logDir.
func (l *launch) setLog(opts CreateOptions) error {
	if opts.LogPath == "" {
		return nil
	}
	var err error
	if l.logDir, err = openLogDir(opts); err != nil {
		return err
	}
	l.logName = filepath.Base(opts.LogPath)
	switch {
	case opts.StdinOnce:
		l.stdin = "once"
	case opts.OpenStdin:
		l.stdin = "open"
	}
	l.stdio[1], l.stdio[2] = nil, nil
	return nil
}

// launched is a started process: its monitor, its init and the sync socket
// to the init.
type launched struct {
	// cmd is the crisp executed for the launch; nil when a spare, detached
	// already, took it.
	cmd     *spawned
	conn    *syncConn
	monitor proc.Ref
	init    proc.Ref
	// extraFD is the init's descriptor number of launch.extra[0].
	extraFD int
}

// start executes crisp and follows the nsenter constructor until the init
// runs in the container's namespaces.
func (l *launch) start(ctx context.Context) (_ *launched, retErr error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sync socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("sync socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sync")
	child := os.NewFile(uintptr(fds[1]), "sync-child")
	defer child.Close()

	// The preserved descriptors come first, at 3 and up where the process
	// will find them; crisp's own follow, named by environment variables.
	files := slices.Clone(l.preserve)
	var env []string
	add := func(name string, f *os.File) int {
		fd := 3 + len(files)
		env = append(env, name+"="+strconv.Itoa(fd))
		files = append(files, f)
		return fd
	}
	add("_CRISP_INIT_SYNC", child)
	exeFD := add("_CRISP_INIT_EXE", l.exe.file)
	if l.cgroup != nil {
		cgfd, err := l.cgroup.OpenFD()
		if err != nil {
			parent.Close()
			return nil, fmt.Errorf("open cgroup: %w", err)
		}
		defer cgfd.Close()
		add("_CRISP_INIT_CGROUP", cgfd)
	}
	if l.stateDir != nil {
		add("_CRISP_INIT_STATE", l.stateDir)
	}
	if l.ttySocket != nil {
		add("_CRISP_INIT_TTY", l.ttySocket)
	}
	if l.criu != nil {
		add("_CRISP_INIT_RESTORE", l.criu)
		env = append(env, "_CRISP_INIT_CRIU="+l.criuPath)
	}
	extraFD := 3 + len(files)
	files = append(files, l.extra...)
	if l.detach {
		env = append(env, "_CRISP_INIT_DETACH=1")
	}
	if l.logName != "" {
		add("_CRISP_INIT_LOG_DIR", l.logDir)
		env = append(env, "_CRISP_INIT_LOG="+l.logName)
		if l.stdin != "" {
			env = append(env, "_CRISP_INIT_STDIN="+l.stdin)
		}
	}
	if l.ns.clone != 0 {
		env = append(env, "_CRISP_INIT_CLONE="+strconv.FormatUint(uint64(l.ns.clone), 10))
	}
	for t, path := range l.ns.join {
		env = append(env, nsKinds[t].env+"="+path)
	}
	var cmd *spawned
	if l.spares != nil {
		// The next spare is made when this launch is done, not while it
		// runs.
		defer l.spares.refill()
	}
	if !l.handToSpare(env, files) {
		if cmd, err = l.execCrisp(exeFD, env, files); err != nil {
			parent.Close()
			return nil, err
		}
	}
	// The process has its end: a process that dies now ends the socket.
	child.Close()
	p := &launched{cmd: cmd, conn: newSyncConn(parent), extraFD: extraFD}
	defer func() {
		if retErr != nil {
			p.abort()
		}
	}()
	stop := p.conn.watch(ctx)
	defer stop()
	for {
		m, err := p.conn.expect()
		if err != nil {
			return p, err
		}
		switch m.Type {
		case msgMonitor:
			if p.monitor, err = proc.NewRef(m.Pid); err != nil {
				return p, fmt.Errorf("monitor %d: %w", m.Pid, err)
			}
			if l.detach && cmd != nil {
				// The first process only forked the monitor.
				if err := cmd.waitSuccess(); err != nil {
					return p, fmt.Errorf("detach monitor: %w", err)
				}
			}
		case msgCgroup:
			if err := l.cgroup.AddProcess(m.Pid); err != nil {
				return p, fmt.Errorf("join cgroup: %w", err)
			}
			if err := p.conn.ack(); err != nil {
				return p, err
			}
		case msgUserns:
			if err := writeIDMaps(m.Pid, l.uidMaps, l.gidMaps); err != nil {
				return p, err
			}
			if err := p.conn.ack(); err != nil {
				return p, err
			}
		case msgCriu:
			// The monitor's child executes criu, which restores the
			// init; the caller learns its pid from CRIU.
			return p, nil
		case msgInit:
			if p.init, err = proc.NewRef(m.Pid); err != nil {
				return p, fmt.Errorf("init %d: %w", m.Pid, err)
			}
			if l.cgroup != nil {
				// clone3 already put init in the cgroup's directory; the
				// systemd driver still has to start the container's scope
				// around it (a no-op write for cgroupfs).
				if err := l.cgroup.AddProcess(m.Pid); err != nil {
					return p, fmt.Errorf("register init in cgroup: %w", err)
				}
			}
			return p, nil
		default:
			return p, fmt.Errorf("sync: unexpected message %q", m.Type)
		}
	}
}

// execCrisp executes crisp for the launch, from its descriptor exeFD in
// files, with env and files from descriptor 3.
func (l *launch) execCrisp(exeFD int, env []string, files []*os.File) (*spawned, error) {
	var cmd *spawned
	err := timerslack.With(l.slack, func() (err error) {
		cmd, err = spawn("/proc/self/fd/"+strconv.Itoa(exeFD), []string{"crisp", "init"}, env, l.stdio, files)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start crisp init: %w", err)
	}
	return cmd, nil
}

// writeIDMaps writes a new user namespace's uid and gid maps.
func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping) error {
	write := func(file string, maps []specs.LinuxIDMapping) error {
		var b strings.Builder
		for _, m := range maps {
			fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		path := "/proc/" + strconv.Itoa(pid) + "/" + file
		if err := os.WriteFile(path, []byte(b.String()), 0); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	if err := write("uid_map", uids); err != nil {
		return err
	}
	return write("gid_map", gids)
}

// abortGrace is how long abort lets the monitor reap what it started
// and exit on its own before it is killed.
const abortGrace = 5 * time.Second

// abort kills whatever was started and waits until the monitor is gone,
// so that a failed setup leaves no process behind.
//
// The monitor goes last: it is the subreaper of the container's side, so
// the init (and an init it forked that the caller has not heard of yet)
// is reaped by it. Killed first, it would leave them to the container's
// own init, which need not reap: an exec's process in a container whose
// init is a sleep would stay, running or a zombie, in its cgroup.
func (p *launched) abort() {
	// Processes started meanwhile: their messages may be unread.
	for _, m := range p.conn.pending() {
		switch {
		case m.Type == msgMonitor && p.monitor.Pid == 0:
			p.monitor, _ = proc.NewRef(m.Pid)
		case m.Type == msgInit && p.init.Pid == 0:
			p.init, _ = proc.NewRef(m.Pid)
		}
	}
	// A process waiting for an answer gives up on EOF.
	p.conn.file.Close()
	if p.init.Pid > 0 && p.init.Alive() {
		_ = unix.Kill(p.init.Pid, unix.SIGKILL)
	}
	if p.monitor.Pid > 0 {
		// The monitor's child is the caller's too when cmd is the
		// monitor: cmd.wait below reaps it, so no reaping here.
		ctx, cancel := context.WithTimeout(context.Background(), abortGrace)
		if err := p.monitor.Wait(ctx, false); err != nil {
			klog.InfoS("Killing monitor that did not exit after failed setup", "pid", p.monitor.Pid, "err", err)
			_ = signalProc(p.monitor, unix.SIGKILL)
		}
		cancel()
	}
	if p.cmd != nil && !p.cmd.exited() {
		p.cmd.kill()
		_, _ = p.cmd.wait()
	}
	if p.monitor.Pid > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := waitGone(ctx, p.monitor); err != nil {
			klog.ErrorS(err, "Monitor did not exit after failed setup", "pid", p.monitor.Pid)
		}
	}
}

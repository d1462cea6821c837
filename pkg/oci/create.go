package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// CreateOptions are the caller's choices for Create beyond the bundle.
type CreateOptions struct {
	// ConsoleSocket is a unix socket to which the pseudo-terminal's master
	// is sent when process.terminal is set.
	ConsoleSocket string
	// Console, when process.terminal is set and neither ConsoleSocket nor
	// LogPath is, is asked for the console socket: a caller that relays
	// the terminal itself (runc's foreground run) learns that the process
	// wants one without reading the spec a second time.
	Console func() (socket string, err error)
	// Stdin, Stdout and Stderr become the container process's stdio when
	// it has no terminal; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// NoPivot uses MS_MOVE and chroot instead of pivot_root.
	NoPivot bool
	// ExtraFiles are open files the process gets as descriptors 3 and up
	// (runc's --preserve-fds); every other descriptor is closed on exec.
	ExtraFiles []*os.File
	// LogPath, when set, receives the process's stdout and stderr in the
	// kubelet's CRI log format, written by the container's monitor so
	// that no line depends on the caller; Stdout and Stderr are unused.
	// ReopenLog reopens it after a rotation. It must be absolute.
	LogPath string
	// LogDir, when set, is LogPath's directory as the caller resolved and
	// opened it (an O_PATH handle will do). The monitor opens and reopens
	// the log by its name in this handle, so a parent directory swapped
	// for a symlink later cannot move the log. Without it Create opens
	// LogPath's directory itself.
	LogDir *os.File
	// OpenStdin gives a container with a LogPath a stdin pipe that its
	// monitor holds: clients of Attach write to it. With StdinOnce the
	// pipe closes when the first attached client ends its input (CRI's
	// stdin and stdin_once).
	OpenStdin, StdinOnce bool
}

// Create sets up container id from the bundle directory: namespaces, cgroup,
// root file system and process attributes. The process does not run until
// Start. On error nothing is left behind.
func (r *Runtime) Create(ctx context.Context, id, bundle string, opts CreateOptions) error {
	return r.create(ctx, id, bundle, opts, nil)
}

// create is Create, or, with restore, Restore: the same state directory,
// cgroup, log and monitor, with CRIU in place of the init.
func (r *Runtime) create(ctx context.Context, id, bundle string, opts CreateOptions, restore *RestoreOptions) (retErr error) {
	if err := checkID(id); err != nil {
		return err
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return errdefs.InvalidField("bundle", err.Error())
	}
	spec, configJSON, err := loadSpec(bundle)
	if err != nil {
		return err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return errdefs.InvalidField("root.path", fmt.Sprintf("%s is not a directory", rootfs))
	}
	plan, _ := planNamespaces(spec.Linux.Namespaces) // checked by loadSpec
	if spec.Process.Terminal && opts.ConsoleSocket == "" && opts.LogPath == "" && opts.Console != nil {
		if opts.ConsoleSocket, err = opts.Console(); err != nil {
			return fmt.Errorf("console socket: %w", err)
		}
	}
	if spec.Process.Terminal && opts.ConsoleSocket == "" && opts.LogPath == "" {
		return errdefs.InvalidField("process.terminal", "a terminal needs a console socket or a log path")
	}
	if opts.LogPath != "" && !filepath.IsAbs(opts.LogPath) {
		return errdefs.InvalidField("log path", fmt.Sprintf("%q is not absolute", opts.LogPath))
	}
	if opts.LogPath != "" && opts.ConsoleSocket != "" {
		return errdefs.InvalidField("console socket", "a container with a log keeps its terminal in its monitor: it takes no console socket")
	}
	if opts.OpenStdin && (opts.LogPath == "" || opts.Stdin != nil) {
		return errdefs.InvalidField("stdin", "an attachable stdin needs a log path and no stdin file")
	}
	if opts.StdinOnce && !opts.OpenStdin {
		return errdefs.InvalidField("stdin_once", "needs stdin")
	}
	var rst *criuRestore
	if restore != nil {
		codec, err := r.criuCodecOrRefuse("restore")
		if err != nil {
			return err
		}
		if rst, err = prepareRestore(codec, spec, plan, restore); err != nil {
			return err
		}
		defer rst.Close()
	}
	exe, err := r.sealed()
	if err != nil {
		return err
	}

	dir := r.dir(id)
	// 0711: the init, as the process's user (maybe in a user namespace),
	// opens exec.fifo through a handle of this directory. The root (0700)
	// keeps every other user from reaching it.
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
		}
		return fmt.Errorf("container %s: %w", id, err)
	}
	defer func() {
		if retErr != nil {
			if err := os.RemoveAll(dir); err != nil {
				klog.ErrorS(err, "Remove state of failed container", "id", id)
			}
		}
	}()

	cgroupsPath, err := r.cgroupsPath(spec.Linux.CgroupsPath, id)
	if err != nil {
		return err
	}
	cg, err := r.openCgroup(r.cgroupMount, cgroupsPath)
	if err != nil {
		return err
	}
	cgExisted := cg.Exists()
	if err := cg.Create(ctx); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	defer func() {
		if retErr != nil && !cgExisted {
			if err := cg.Destroy(context.WithoutCancel(ctx)); err != nil {
				klog.ErrorS(err, "Remove cgroup of failed container", "id", id, "path", cg.Path())
			}
		}
	}()
	if err := cg.Apply(cgroupResources(spec)); err != nil {
		return fmt.Errorf("linux.resources: %w", err)
	}

	if rst != nil {
		c := &restoring{id: id, bundle: bundle, rootfs: rootfs, dir: dir, cgroupsPath: cgroupsPath,
			spec: spec, configJSON: configJSON, cg: cg, exe: exe}
		return r.restore(ctx, c, opts, rst)
	}
	fifoPath := filepath.Join(dir, fifoFile)
	if err := makeStartFifo(fifoPath); err != nil {
		return err
	}
	// The init opens exec.fifo relative to this handle: no path, and no
	// /proc, is needed in the container.
	dirHandle, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer dirHandle.Close()
	stateDir, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer stateDir.Close()
	extra := []*os.File{dirHandle}
	consoleFD := -1
	trees, err := openMountTrees(spec, rootfs, plan, r.childSlack)
	if err != nil {
		return err
	}
	defer trees.Close()
	var ttySocket *os.File
	switch {
	case spec.Process.Terminal && opts.LogPath != "":
		// The monitor holds the terminal: it logs its output and serves
		// it to Attach. The init sends it the master on a socket pair.
		initEnd, monitorEnd, err := socketPair()
		if err != nil {
			return err
		}
		defer initEnd.Close()
		defer monitorEnd.Close()
		extra = append(extra, initEnd)
		ttySocket = monitorEnd
	case spec.Process.Terminal:
		console, err := dialConsole(opts.ConsoleSocket)
		if err != nil {
			return err
		}
		defer console.Close()
		extra = append(extra, console)
	}

	rootTreeIndex := -1
	if trees.root != nil {
		rootTreeIndex = len(extra)
		extra = append(extra, trees.root)
	}
	bindTreeIndex := map[int]int{}
	for i, f := range trees.binds {
		bindTreeIndex[i] = len(extra)
		extra = append(extra, f)
	}
	l := &launch{
		exe: exe, spares: r.spares(exe), ns: plan, cgroup: cg, stateDir: stateDir, detach: true,
		uidMaps: spec.Linux.UIDMappings, gidMaps: spec.Linux.GIDMappings,
		extra: extra, preserve: opts.ExtraFiles, stdio: [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr},
		ttySocket: ttySocket, slack: r.childSlack,
	}
	if err := l.setLog(opts); err != nil {
		return err
	}
	if l.logDir != nil {
		defer l.logDir.Close()
	}
	p, err := l.start(ctx)
	if err != nil {
		return fmt.Errorf("create container %s: %w", id, err)
	}
	defer func() {
		if retErr != nil {
			p.abort()
		} else {
			p.conn.file.Close()
		}
	}()
	if err := ownStartFifo(fifoPath, p.init.Pid, spec.Process.User); err != nil {
		return fmt.Errorf("create container %s: %w", id, err)
	}
	if spec.Process.Terminal {
		consoleFD = p.extraFD + 1
	}
	rec := &record{
		ID: id, Bundle: bundle, Rootfs: rootfs, Created: time.Now().UTC(), Init: p.init, Monitor: p.monitor,
		CgroupMount: r.cgroupMount, CgroupsPath: cgroupsPath, LogPath: opts.LogPath, Config: spec, configJSON: configJSON,
	}
	state := &specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating, Pid: p.init.Pid, Bundle: bundle, Annotations: spec.Annotations}
	cfg := &initConfig{
		ID: id, Bundle: bundle, Rootfs: rootfs, Spec: spec, Process: spec.Process, CgroupDir: cg.Path(),
		StateDirFD: p.extraFD, ConsoleFD: consoleFD, PreservedFDs: len(opts.ExtraFiles), State: state, NoPivot: opts.NoPivot,
		UserNS: plan.has(specs.UserNamespace), CgroupNS: plan.has(specs.CgroupNamespace),
		SharedMountNS: !plan.isNew(specs.MountNamespace), RootTreeFD: -1,
	}
	if rootTreeIndex >= 0 {
		cfg.RootTreeFD = p.extraFD + rootTreeIndex
	}
	cfg.BindTreeFDs = map[int]int{}
	for i, index := range bindTreeIndex {
		cfg.BindTreeFDs[i] = p.extraFD + index
	}
	if err := r.finishSetup(ctx, p, cfg, spec.Hooks); err != nil {
		return fmt.Errorf("create container %s: %w", id, err)
	}
	return rec.save(dir)
}

// finishSetup sends the init its program and serves it until it is ready:
// the prestart and createRuntime hooks run when it asks.
func (r *Runtime) finishSetup(ctx context.Context, p *launched, cfg *initConfig, hooks *specs.Hooks) error {
	warn := func(msg string) { klog.InfoS("Container init", "id", cfg.ID, "warning", msg) }
	prog, err := compileInit(cfg, warn)
	if err != nil {
		return err
	}
	if score := cfg.Process.OOMScoreAdj; score != nil {
		if err := setOOMScoreAdj(p.init.Pid, *score, warn); err != nil {
			return err
		}
	}
	stop := p.conn.watch(ctx)
	defer stop()
	if err := p.conn.sendProgram(prog); err != nil {
		return err
	}
	for {
		m, err := p.conn.expect()
		if err != nil {
			return err
		}
		switch m.Type {
		case msgWarning:
			klog.InfoS("Container init", "id", cfg.ID, "warning", m.Message)
		case msgHooks:
			if hooks != nil {
				if err := runHooks(ctx, r.childSlack, "prestart", hooks.Prestart, cfg.State); err != nil {
					return err
				}
				if err := runHooks(ctx, r.childSlack, "createRuntime", hooks.CreateRuntime, cfg.State); err != nil {
					return err
				}
			}
			if err := p.conn.ack(); err != nil {
				return err
			}
		case msgReady:
			return nil
		default:
			return fmt.Errorf("sync: unexpected message %q", m.Type)
		}
	}
}

// dialConsole connects to the console socket.
func dialConsole(path string) (*os.File, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", errdefs.InvalidField("console-socket", err.Error()))
	}
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
}

// socketPair returns the two ends of a unix stream socket pair.
func socketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("terminal socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "tty-init"), os.NewFile(uintptr(fds[1]), "tty-monitor"), nil
}

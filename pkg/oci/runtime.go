package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/criu"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// DefaultRoot is where container state lives unless Options.Root says
// otherwise. It should be on tmpfs: state does not survive a reboot.
const DefaultRoot = "/run/crisp/oci"

// Options configure a Runtime.
type Options struct {
	// Root is the state directory; "" means DefaultRoot.
	Root string
	// CgroupMount is the cgroup2 mount point; "" means /sys/fs/cgroup.
	CgroupMount string
	// MissingController says what to do with a limit whose cgroup
	// controller the hierarchy lacks.
	MissingController cgroups.MissingPolicy
	// SystemdCgroup is runc's --systemd-cgroup: a container's
	// linux.cgroupsPath must be systemd's slice:prefix:name, and one that
	// names none gets system.slice:crisp:<id>. Without it crisp still
	// tells the two forms apart by their syntax.
	SystemdCgroup bool
	// Criu is the CRIU binary checkpoints and restores run: a path, or
	// a name looked up in PATH; "" means "criu".
	Criu string
	// CRIU encodes the requests of checkpoints and restores in CRIU's
	// messages (criupb.Codec). Without it, Checkpoint and Restore are
	// refused: the program links no protobuf.
	CRIU criu.Codec
	// Spare keeps a crisp process executed ahead of use for the next
	// container's creation, so that Create does not wait for the fork and
	// exec of the crisp binary: for a runtime that creates many
	// containers, as crisp's daemon does.
	Spare bool
	// ChildTimerSlack is the timer slack of the processes the Runtime
	// starts (containers' first processes, hooks), for a program whose
	// own threads run with a larger one (crisp-oci); 0 leaves them the
	// starting thread's (pkg/timerslack).
	ChildTimerSlack time.Duration
}

// Runtime creates and manages containers whose state is under one root
// directory. It is safe for concurrent use; containers are independent.
type Runtime struct {
	root        string
	cgroupMount string
	missing     cgroups.MissingPolicy
	systemd     bool
	criu        string
	criuCodec   criu.Codec
	childSlack  time.Duration

	exeOnce sync.Once
	exe     *sealedExe
	exeErr  error

	// spare, with Options.Spare, makes the spares Create uses once the
	// sealed binary is open.
	spare       bool
	sparesOnce  sync.Once
	sparesReady *spares

	hierarchiesMu sync.Mutex
	hierarchies   map[string]*cgroups.Hierarchy // by cgroup mount
}

// New returns a Runtime for opts, creating the root directory.
func New(opts Options) (*Runtime, error) {
	root := opts.Root
	if root == "" {
		root = DefaultRoot
	}
	if !filepath.IsAbs(root) {
		return nil, errdefs.InvalidField("root", fmt.Sprintf("%q is not an absolute path", root))
	}
	if err := makePrivateDir(root); err != nil {
		return nil, err
	}
	criuBinary := opts.Criu
	if criuBinary == "" {
		criuBinary = "criu"
	}
	return &Runtime{
		root: filepath.Clean(root), cgroupMount: opts.CgroupMount, missing: opts.MissingController,
		systemd: opts.SystemdCgroup, criu: criuBinary, criuCodec: opts.CRIU, spare: opts.Spare,
		childSlack: opts.ChildTimerSlack,
	}, nil
}

// Root returns the state directory.
func (r *Runtime) Root() string { return r.root }

// Close ends the spare crisp process and releases the cached sealed binary
// and the cgroup hierarchies (with their systemd connections).
func (r *Runtime) Close() error {
	var errs []error
	// No launch makes spares once this ran.
	r.sparesOnce.Do(func() {})
	if r.sparesReady != nil {
		r.sparesReady.close()
	}
	if r.exe != nil {
		errs = append(errs, r.exe.Close())
	}
	r.hierarchiesMu.Lock()
	defer r.hierarchiesMu.Unlock()
	for mount, h := range r.hierarchies {
		errs = append(errs, h.Close())
		delete(r.hierarchies, mount)
	}
	return errors.Join(errs...)
}

// checkID refuses ids that could escape the root directory: an id is 1 to
// 1024 letters, digits and "_.+-", starting with a letter or digit.
func checkID(id string) error {
	ok := len(id) > 0 && len(id) <= 1024
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && strings.IndexByte("_.+-", c) >= 0
	}
	if !ok {
		return errdefs.InvalidField("id", fmt.Sprintf("%q must be 1 to 1024 letters, digits and _.+- starting with a letter or digit", id))
	}
	return nil
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.root, id) }

// List returns the state of every container under the root, sorted by id.
func (r *Runtime) List(ctx context.Context) ([]*State, error) {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.root, err)
	}
	var states []*State
	for _, e := range entries {
		if !e.IsDir() || checkID(e.Name()) != nil {
			continue
		}
		st, err := r.State(ctx, e.Name())
		if errors.Is(err, errdefs.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		states = append(states, st)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].ID < states[j].ID })
	return states, nil
}

// makePrivateDir creates the state root, 0700 as runc's: only root may
// reach the containers' state directories, their start fifos and attach
// sockets. A root left with a wider mode (by an older crisp) is narrowed,
// if it is crisp's own: a directory of another owner, or a sticky one such
// as /tmp, is refused rather than changed.
func makePrivateDir(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("state root %s: %w", root, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return fmt.Errorf("state root %s: %w", root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("state root %s is not a directory", root)
	}
	if st.Mode&0o077 == 0 {
		return nil
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&unix.S_ISVTX != 0 {
		return fmt.Errorf("state root %s (mode %#o, owner %d) is open to other users", root, st.Mode&0o7777, st.Uid)
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return fmt.Errorf("state root %s: %w", root, err)
	}
	return nil
}

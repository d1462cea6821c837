package oci

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// setOOMScoreAdj sets the oom_score_adj of process pid, the container's
// init before its program runs; the container's process inherits it. The
// parent writes it because the init, non-dumpable while it holds host
// descriptors, cannot always write its own /proc files. Lowering the score
// needs CAP_SYS_RESOURCE; without it the value is clamped to the current
// one with a warning, as containerd's restrict_oom_score_adj does, rather
// than failing the container.
func setOOMScoreAdj(pid, score int, warn func(string)) error {
	path := "/proc/" + strconv.Itoa(pid) + "/oom_score_adj"
	err := os.WriteFile(path, []byte(strconv.Itoa(score)), 0)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	current, perr := strconv.Atoi(strings.TrimSpace(string(data)))
	if perr != nil || score >= current {
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	warn(fmt.Sprintf("process.oomScoreAdj %d clamped to %d: lowering it needs CAP_SYS_RESOURCE", score, current))
	return nil
}

// oomFile is the monitor's record, in a container's state directory, of
// how many processes of the container's cgroup the OOM killer killed while
// the init ran. The monitor writes it just before exitFile, and only when
// the cgroup has the memory controller.
const oomFile = "oom"

// OOMKills returns the number of processes of container id's cgroup that
// the OOM killer killed while its init ran, as the container's monitor
// recorded it when the init exited. The monitor follows the cgroup's
// memory.events while the container runs, so the count survives the cgroup
// (systemd removes a scope's cgroup once it is empty) and the daemon's
// absence. ok is false when there is no record: the init has not exited,
// or the cgroup has no memory controller.
func (r *Runtime) OOMKills(id string) (n uint64, ok bool, err error) {
	if err := checkID(id); err != nil {
		return 0, false, err
	}
	f, err := os.Open(filepath.Join(r.dir(id), oomFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("container %s: read OOM record: %w", id, err)
	}
	defer f.Close()
	// A decimal count and a newline.
	data, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0, false, fmt.Errorf("container %s: read OOM record: %w", id, err)
	}
	n, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("container %s: OOM record %q: %w", id, data, err)
	}
	return n, true, nil
}

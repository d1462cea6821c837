package oci

import (
	"errors"
	"fmt"
	"os"
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

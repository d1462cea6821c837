package apparmor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// DefaultProfile is the name of crisp's profile for containers that ask
// for the runtime's default.
const DefaultProfile = "crisp-default"

// defaultProfileText is crisp's default profile. A container may do what
// it likes inside its own root; the profile takes away what reaches the
// host through the kernel's shared files, mounts and other profiles'
// processes, on top of the capabilities and seccomp filter the container
// already lacks. The flags let a container whose root is not reachable
// from the host's (every container) and whose files are deleted open
// still be mediated by path.
const defaultProfileText = `profile crisp-default flags=(attach_disconnected,mediate_deleted) {
  file,
  network,
  capability,
  umount,

  # No mount of any kind and no change of root: the container's mounts are
  # made before its process runs.
  deny mount,
  deny pivot_root,

  # Kernel settings that are not the container's own.
  deny /proc/sys/kernel/** wkl,
  deny /proc/sys/vm/** wkl,
  deny /proc/sys/fs/** wkl,
  deny /proc/sys/dev/** wkl,
  deny /proc/sys/debug/** wkl,
  deny /proc/sysrq-trigger rwkl,
  deny /proc/kcore rwkl,
  deny /proc/kmsg rwkl,

  # sysfs is read-only; its security and firmware trees are not read.
  deny /sys/** wkl,
  deny /sys/kernel/security/** rwkl,
  deny /sys/firmware/** rwkl,

  # Processes of the same profile may signal and trace each other; the
  # runtime, unconfined, may signal them.
  signal (send, receive) peer=crisp-default,
  signal (receive) peer=unconfined,
  ptrace (trace, read, tracedby, readby) peer=crisp-default,
}
`

// maxParserOutput bounds what is kept of apparmor_parser's complaints.
const maxParserOutput = 4096

// LoadDefault loads crisp's default profile into the kernel, replacing
// an older version of it, unless it is loaded already.
func (h *Host) LoadDefault(ctx context.Context) error {
	loaded, err := h.Loaded(DefaultProfile)
	if err != nil || loaded {
		return err
	}
	return h.load(ctx, defaultProfileText)
}

// load compiles and loads profile text with apparmor_parser, without
// caching the compiled policy (-K) and replacing a profile of the same
// name (-r). What the parser says on stderr is kept, up to
// maxParserOutput bytes.
func (h *Host) load(ctx context.Context, text string) error {
	cmd := exec.CommandContext(ctx, h.Parser, "-Kr")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("load AppArmor profile: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("load AppArmor profile with %s: %w", h.Parser, err)
	}
	said, _ := io.ReadAll(io.LimitReader(out, maxParserOutput))
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("load AppArmor profile with %s: %w: %s", h.Parser, err, bytes.TrimSpace(said))
	}
	return nil
}

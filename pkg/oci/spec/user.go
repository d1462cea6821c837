package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// defaultUmask is the umask of a container's process, as in containerd.
const defaultUmask = 0o022

// maxIDFileSize bounds what is read of an image's /etc/passwd or /etc/group.
const maxIDFileSize = 16 << 20

// resolveUser returns the process's user and home directory. The user is
// run_as_user or run_as_username, else the image's User ("name", "uid",
// "uid:gid", "name:group"), resolved in the rootfs's /etc/passwd and
// /etc/group; run_as_group, which needs run_as_user or run_as_username,
// replaces the group. A numeric uid needs no passwd entry. The additional
// groups are the primary group, then, with the Merge policy, the user's
// groups in /etc/group, then supplemental_groups.
func resolveUser(rootfs string, sc *runtimeapi.LinuxContainerSecurityContext, imageUser string) (specs.User, string, error) {
	const scField = "linux.security_context."
	// The CRI requires an error here: a group alone would leave the user
	// to the image while the pod asked for a specific identity.
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		return specs.User{}, "", errdefs.InvalidField(scField+"run_as_group", "needs run_as_user or run_as_username")
	}
	spec, field := imageUser, "image"
	switch {
	case sc.GetRunAsUser() != nil:
		uid := sc.GetRunAsUser().GetValue()
		if uid < 0 || uid > math.MaxInt32 {
			return specs.User{}, "", errdefs.InvalidField(scField+"run_as_user", fmt.Sprintf("%d is not a valid uid", uid))
		}
		spec, field = strconv.FormatInt(uid, 10), scField+"run_as_user"
	case sc.GetRunAsUsername() != "":
		name := sc.GetRunAsUsername()
		if strings.ContainsAny(name, ":\n") {
			return specs.User{}, "", errdefs.InvalidField(scField+"run_as_username", fmt.Sprintf("%q is not a user name", name))
		}
		spec, field = name, scField+"run_as_username"
	}
	problem := func(err error) error {
		if field == "image" {
			return errdefs.InvalidField(field, fmt.Sprintf("the image's user %q: %v", spec, err))
		}
		return errdefs.InvalidField(field, err.Error())
	}
	passwd, err := readInRoot(rootfs, "/etc/passwd")
	if err != nil {
		return specs.User{}, "", err
	}
	group, err := readInRoot(rootfs, "/etc/group")
	if err != nil {
		return specs.User{}, "", err
	}
	defaults := &user.ExecUser{Home: "/"}
	exec, err := user.GetExecUser(spec, defaults, reader(passwd), reader(group))
	if err != nil {
		return specs.User{}, "", problem(err)
	}
	// GetExecUser finds the user's groups only when the spec names no
	// group; the Merge policy wants them either way.
	name, _, _ := strings.Cut(spec, ":")
	member, err := user.GetExecUser(name, defaults, reader(passwd), reader(group))
	if err != nil {
		return specs.User{}, "", problem(err)
	}
	u := specs.User{UID: uint32(exec.Uid), GID: uint32(exec.Gid), Umask: ptrTo(uint32(defaultUmask))}
	if g := sc.GetRunAsGroup(); g != nil {
		if g.GetValue() < 0 || g.GetValue() > math.MaxInt32 {
			return specs.User{}, "", errdefs.InvalidField(scField+"run_as_group", fmt.Sprintf("%d is not a valid gid", g.GetValue()))
		}
		u.GID = uint32(g.GetValue())
	}
	gids := []uint32{u.GID}
	add := func(gid uint32) {
		for _, g := range gids {
			if g == gid {
				return
			}
		}
		gids = append(gids, gid)
	}
	switch p := sc.GetSupplementalGroupsPolicy(); p {
	case runtimeapi.SupplementalGroupsPolicy_Merge:
		for _, g := range member.Sgids {
			add(uint32(g))
		}
	case runtimeapi.SupplementalGroupsPolicy_Strict:
	default:
		return specs.User{}, "", errdefs.InvalidField(scField+"supplemental_groups_policy", fmt.Sprintf("unknown policy %d", p))
	}
	for i, g := range sc.GetSupplementalGroups() {
		if g < 0 || g > math.MaxInt32 {
			return specs.User{}, "", errdefs.InvalidField(fmt.Sprintf("%ssupplemental_groups[%d]", scField, i), fmt.Sprintf("%d is not a valid gid", g))
		}
		add(uint32(g))
	}
	u.AdditionalGids = gids
	return u, exec.Home, nil
}

// reader is data as the io.Reader GetExecUser wants: nil when the file is
// missing, so that only numeric ids resolve.
func reader(data []byte) io.Reader {
	if data == nil {
		return nil
	}
	return bytes.NewReader(data)
}

// readInRoot reads the regular file path inside rootfs, resolving every
// symlink and ".." inside the root, so an image cannot make crisp read a
// host file. A missing file is nil data; anything but a regular file (a
// fifo would block) is an error.
func readInRoot(rootfs, path string) ([]byte, error) {
	handle, err := pathrs.OpenInRoot(rootfs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs %s: %w", path, rootfs, err)
	}
	defer handle.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(handle.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat %s in rootfs %s: %w", path, rootfs, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errdefs.InvalidField("image", fmt.Sprintf("%s of the image is not a regular file", path))
	}
	f, err := pathrs.Reopen(handle, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs %s: %w", path, rootfs, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIDFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in rootfs %s: %w", path, rootfs, err)
	}
	if len(data) > maxIDFileSize {
		return nil, errdefs.InvalidField("image", fmt.Sprintf("%s of the image is larger than %d bytes", path, maxIDFileSize))
	}
	return data, nil
}

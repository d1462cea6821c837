package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// listenUnix listens on a unix socket at path with mode 0660, owned by root
// and the given group. Any file at path is stale: the caller holds the state
// lock, so no other daemon can be serving on it. The caller removes the
// socket when it stops serving.
//
// The socket is made in a private (0700) directory beside path, where the
// umask's mode it is created with does not matter, and renamed to path once
// its mode and owner are set: at path it never has a wider mode.
func listenUnix(path, group string) (net.Listener, error) {
	gid, err := lookupGroup(group)
	if err != nil {
		return nil, err
	}
	// Traversable: members of group connect through it.
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	// One name, so that what a crash left of it is removed here.
	private := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.RemoveAll(private); err != nil {
		return nil, fmt.Errorf("remove stale %s: %w", private, err)
	}
	if err := os.Mkdir(private, 0o700); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	defer os.RemoveAll(private)
	tmp := filepath.Join(private, "s")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The listener's path changes: removing it is the caller's.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	if err := os.Chown(tmp, 0, gid); err != nil {
		l.Close()
		return nil, fmt.Errorf("chown socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("place socket at %s: %w", path, err)
	}
	return l, nil
}

// lookupGroup resolves a group name or numeric id; empty means gid 0.
func lookupGroup(group string) (int, error) {
	if group == "" {
		return 0, nil
	}
	if gid, err := strconv.Atoi(group); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("grpc.socket_group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

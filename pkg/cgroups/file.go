package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroup interface files are read and written with bare system calls:
// os.File's fstat and poller registration would add a third to every
// access, and kubelet polls stats of every container.

// readBufSize fits every single-value file and memory.stat in one read.
const readBufSize = 8 << 10

// readFile returns the contents of a cgroup interface file. A missing file
// matches fs.ErrNotExist.
func readFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	fd, err := openRetry(p, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return "", &fs.PathError{Op: "read", Path: p, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, readBufSize)
	n := 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if m == 0 {
			return string(buf[:n]), nil
		}
		n += m
	}
}

// writeFile writes value to a cgroup interface file in a single write, as
// the kernel parses each write(2) on its own. It does not create the file.
func writeFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	fd, err := openRetry(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte(value))
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

func openRetry(p string, flags int) (int, error) {
	for {
		fd, err := unix.Open(p, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// fileExists reports whether a cgroup interface file exists.
func fileExists(dir, name string) bool {
	return unix.Access(filepath.Join(dir, name), unix.F_OK) == nil
}

// readUint reads a file holding one unsigned number, or "max" (returned as
// Max).
func readUint(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := parseUint(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// Max is how a "max" (no limit) value reads back.
const Max = ^uint64(0)

func parseUint(s string) (uint64, error) {
	if s == "max" {
		return Max, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The socket appears at its path only by a rename, after its mode is set:
// even under a umask of 0 it never exists there with a wider mode than
// 0660, and the private directory it was made in is gone, as is one a
// crash left.
func TestListenUnixSocketNeverWider(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "crisp.sock")
	// What a crash between listening and renaming left behind.
	if err := os.MkdirAll(filepath.Join(dir, ".crisp.sock.tmp", "s"), 0o700); err != nil {
		t.Fatal(err)
	}

	ino, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ino)
	if _, err := unix.InotifyAddWatch(ino, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		t.Fatal(err)
	}

	l, err := listenUnix(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	defer l.Close()

	// Every event on the socket's name in its directory, in order.
	var events []uint32
	buf := make([]byte, 64<<10)
	n, err := unix.Read(ino, buf)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		if name == filepath.Base(path) {
			events = append(events, ev.Mask&^unix.IN_ISDIR)
		}
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	if len(events) != 1 || events[0] != unix.IN_MOVED_TO {
		t.Errorf("events on %s: %#x, want only IN_MOVED_TO (%#x): it was created or changed in place", path, events, unix.IN_MOVED_TO)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&0o7777 != 0o660 {
		t.Errorf("socket mode %#o, want a socket 0660", st.Mode)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("socket directory holds %v, want only the socket", entries)
	}
	// The listener serves at path.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Errorf("connect to %s: %v", path, err)
	}
}

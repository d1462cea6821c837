package readahead

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/internal/exetest"
)

// TestReadOnlySegmentsAdvisedRandom checks, in this test binary (which
// links the package and so runs its constructor), that the mapping of
// every read-only segment of the executable carries the kernel's "rr"
// (random read) flag, and the writable segment's does not.
func TestReadOnlySegmentsAdvisedRandom(t *testing.T) {
	exe, bin := openSelf(t)
	defer bin.Close()
	page := uint64(os.Getpagesize())
	// The file offset each segment's mapping starts at, and whether the
	// segment is read-only.
	segments := map[uint64]bool{}
	for _, p := range bin.Progs {
		if p.Type == elf.PT_LOAD && p.Memsz > 0 {
			segments[p.Off&^(page-1)] = p.Flags&elf.PF_W == 0
		}
	}

	flags := mappingFlags(t, exe)
	var checked int
	for off, readOnly := range segments {
		vmflags, ok := flags[off]
		if !ok {
			t.Errorf("no mapping of %s at file offset %#x", exe, off)
			continue
		}
		random := slices.Contains(vmflags, "rr")
		switch {
		case readOnly && !random:
			t.Errorf("read-only segment at %#x not advised random: VmFlags %v", off, vmflags)
		case !readOnly && random:
			t.Errorf("writable segment at %#x advised random: VmFlags %v", off, vmflags)
		}
		if readOnly {
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("%s has no read-only segment", exe)
	}
}

// mappingFlags reads /proc/self/smaps: the VmFlags of each mapping of exe,
// by the file offset it starts at.
func mappingFlags(t *testing.T, exe string) map[uint64][]string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags := map[uint64][]string{}
	var offset uint64
	var ours bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 0:
		case fields[0] == "VmFlags:":
			if ours {
				if _, seen := flags[offset]; !seen {
					flags[offset] = fields[1:]
				}
			}
		case !strings.HasSuffix(fields[0], ":") && len(fields) >= 5:
			// A mapping's header: range, perms, offset, device, inode, path.
			ours = len(fields) >= 6 && fields[5] == exe
			offset, err = strconv.ParseUint(fields[2], 16, 64)
			if err != nil {
				t.Fatalf("smaps header %q: %v", sc.Text(), err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return flags
}

// TestUnreadDataDropped checks that pages of the read-only data that exec
// read ahead are dropped from the page cache when the binary runs as the
// daemon (no command: the first argument is a flag), and kept when it runs
// a command. It copies this test binary, writes the copy back to disk (the
// page cache drops only clean pages) and runs it each way: without the
// drop every page of the copy would still be cached; with it, only those
// the run has touched.
func TestUnreadDataDropped(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		cached, total := cachedDataPages(t)
		fmt.Printf("cached %d of %d\n", cached, total)
		return
	}
	for _, tt := range []struct {
		name    string
		args    []string
		dropped bool
	}{
		// The test binary runs its tests either way: it stops reading
		// flags at the first word.
		{"daemon", []string{"-test.run", "^TestUnreadDataDropped$", "-test.count=1"}, true},
		{"command", []string{"images", "-test.run", "^TestUnreadDataDropped$"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			copyPath := exetest.Copy(t, "readahead.test")
			var fs unix.Statfs_t
			if err := unix.Statfs(copyPath, &fs); err != nil {
				t.Fatal(err)
			}
			if fs.Type == unix.TMPFS_MAGIC {
				t.Skipf("needs a temporary directory on a disk filesystem: %s is on tmpfs, whose pages cannot be dropped", copyPath)
			}
			cmd := exec.Command(copyPath, tt.args...)
			cmd.Env = append(os.Environ(), childEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", copyPath, err, out)
			}
			m := regexp.MustCompile(`cached (\d+) of (\d+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("child said %q", out)
			}
			cached, _ := strconv.Atoi(string(m[1]))
			total, _ := strconv.Atoi(string(m[2]))
			t.Logf("%d of the %d pages of the read-only data segment are cached", cached, total)
			// The test binary is small and touches about half of it;
			// without the drop all of it stays cached.
			if most := cached*5 > total*4; most == tt.dropped {
				t.Errorf("%d of the %d pages of the read-only data segment are cached, want them dropped: %v", cached, total, tt.dropped)
			}
		})
	}
}

// childEnv makes TestUnreadDataDropped report on its own binary.
const childEnv = "CRISP_READAHEAD_TEST_CHILD"

// cachedDataPages returns how many pages of the running executable's
// largest read-only data segment are in the page cache, and how many it
// has.
func cachedDataPages(t *testing.T) (cached, total int) {
	exe, bin := openSelf(t)
	defer bin.Close()
	var data *elf.Prog
	for _, p := range bin.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&(elf.PF_W|elf.PF_X) == 0 && (data == nil || p.Filesz > data.Filesz) {
			data = p
		}
	}
	if data == nil {
		t.Fatalf("%s has no read-only data segment", exe)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := uint64(os.Getpagesize())
	off := data.Off &^ (page - 1)
	length := int(data.Off + data.Filesz - off)
	// A mapping of our own reads nothing: mincore only looks.
	m, err := unix.Mmap(int(f.Fd()), int64(off), length, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (length+int(page)-1)/int(page))
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(length), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		cached += int(v & 1)
	}
	return cached, len(vec)
}

// openSelf returns the running executable's path and its ELF file.
func openSelf(t *testing.T) (string, *elf.File) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	return exe, bin
}

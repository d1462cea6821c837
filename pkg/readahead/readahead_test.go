package readahead

import (
	"bufio"
	"debug/elf"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReadOnlySegmentsAdvisedRandom checks, in this test binary (which
// links the package and so runs its constructor), that the mapping of
// every read-only segment of the executable carries the kernel's "rr"
// (random read) flag, and the writable segment's does not.
func TestReadOnlySegmentsAdvisedRandom(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
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

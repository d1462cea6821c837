package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// readDirect reads n bytes from path with O_DIRECT into a page-aligned
// buffer.
func readDirect(path string, n int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	buf, err := unix.Mmap(-1, 0, 64<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(buf)
	for off := 0; off < n; off += len(buf) {
		if _, err := unix.Pread(fd, buf, int64(off)); err != nil {
			return fmt.Errorf("read %s at %d: %w", path, off, err)
		}
	}
	return nil
}

// rootDisk finds the whole disk holding the root file system, as a device
// node this test can open and as major:minor.
func rootDisk(t *testing.T) (node string, major, minor uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	if _, err := os.Stat(sys); err != nil {
		t.Skipf("needs the root file system on a block device (%s: %v)", sys, err)
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		sys = filepath.Join(sys, "..")
	}
	uevent, err := os.ReadFile(filepath.Join(sys, "uevent"))
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(uevent), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	node = "/dev/" + kv["DEVNAME"]
	if _, err := fmt.Sscan(kv["MAJOR"]+" "+kv["MINOR"], &major, &minor); err != nil {
		t.Fatalf("parse %s/uevent: %v", sys, err)
	}
	if _, err := os.Stat(node); err != nil {
		t.Skipf("needs the root disk's device node: %v", err)
	}
	return node, major, minor
}

func TestKernelIOThrottleAndStats(t *testing.T) {
	h := realHierarchy(t, MissingError, "io")
	node, major, minor := rootDisk(t)
	m := testCgroup(t, h)
	const rate = 1 << 20
	dev := specs.LinuxBlockIODevice{Major: int64(major), Minor: int64(minor)}
	res := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: rate}},
	}}
	if err := m.Apply(res); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	// Weights need BFQ (io.bfq.weight) or blk-iocost (io.weight); a kernel
	// with neither must say so rather than drop the weight.
	weight := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500))}}
	err := m.Apply(weight)
	switch {
	case fileExists(m.Path(), "io.bfq.weight"), fileExists(m.Path(), "io.weight"):
		if err != nil {
			t.Errorf("Apply(io weight): %v", err)
		}
	case err == nil || !strings.Contains(err.Error(), "linux.resources.blockIO"):
		t.Errorf("Apply(io weight) without io.weight = %v, want an error naming linux.resources.blockIO", err)
	}
	max, _ := readFile(m.Path(), "io.max")
	if want := fmt.Sprintf("%d:%d rbps=%d", major, minor, rate); !strings.Contains(max, want) {
		t.Errorf("io.max = %q, want it to contain %q", max, want)
	}
	start := time.Now()
	reader := startHelper(t, m, "readdev:"+node)
	if err := reader.Wait(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	// 2 MiB at 1 MiB/s: the first MiB may pass as a burst, the second
	// cannot.
	if elapsed := time.Since(start); elapsed < 700*time.Millisecond {
		t.Errorf("2 MiB read in %v under rbps=1MiB/s: not throttled", elapsed)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, d := range s.IO {
		if d.Major == major && d.Minor == minor {
			found = true
			if d.ReadBytes < 2<<20 || d.ReadIOs == 0 {
				t.Errorf("io stats for %d:%d = %+v, want >= 2 MiB read", major, minor, d)
			}
		}
	}
	if !found {
		t.Errorf("io stats %+v have no entry for the root disk %d:%d", s.IO, major, minor)
	}
}

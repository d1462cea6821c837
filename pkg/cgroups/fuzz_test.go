package cgroups

import (
	"errors"
	"fmt"
	"math"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// FuzzParseFlatKeyed feeds the parser of the flat keyed files crisp reads
// for statistics (cpu.stat, memory.stat, memory.events): what it accepts,
// written back one "key value" line per entry, parses to the same map, and
// every value is what the single-value parser (pids.current, pids.max,
// memory.current) reads from the same text.
func FuzzParseFlatKeyed(f *testing.F) {
	f.Add("usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
	f.Add("anon 4096\nfile 8192\ninactive_file 4096\npgfault 12\npgmajfault 0\n")
	f.Add("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")
	f.Add("max max\n")
	f.Add("a 18446744073709551615\nb 18446744073709551616\n")
	f.Add("novalue\n")
	f.Add("k  7 \n\n")
	f.Add(" 5\n")
	f.Fuzz(func(t *testing.T, text string) {
		kv, err := parseFlatKeyed(text)
		if err != nil {
			return
		}
		var b strings.Builder
		for k, v := range kv {
			if strings.ContainsAny(k, " \n") {
				t.Fatalf("key %q holds a separator", k)
			}
			s := strconv.FormatUint(v, 10)
			if v == Max {
				s = "max"
			}
			fmt.Fprintf(&b, "%s %s\n", k, s)
		}
		again, err := parseFlatKeyed(b.String())
		if err != nil || !reflect.DeepEqual(kv, again) {
			t.Fatalf("%q parses to %v; written back as %q it parses to %v, %v", text, kv, b.String(), again, err)
		}
		for _, line := range strings.Split(text, "\n") {
			k, v, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			n, err := parseUint(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("line %q accepted but its value is refused alone: %v", line, err)
			}
			if _, ok := kv[k]; !ok {
				t.Fatalf("line %q accepted but key %q (%d) is missing", line, k, n)
			}
		}
	})
}

// FuzzParseUint feeds the parser of single-value files (pids.current,
// pids.max, memory.current, memory.max): "max" is Max, anything else is a
// decimal number that formats back to a text parsing to the same value.
func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0", "42", "max", "18446744073709551615", "18446744073709551616", "-1", "+1", "0x10", "007", "", "max\n", "1 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseUint(s)
		if err != nil {
			return
		}
		if s == "max" {
			if v != Max {
				t.Fatalf("parseUint(max) = %d", v)
			}
			return
		}
		if strings.Trim(s, "0123456789") != "" {
			t.Fatalf("parseUint(%q) = %d accepts a non-digit", s, v)
		}
		if again, err := parseUint(strconv.FormatUint(v, 10)); err != nil || again != v {
			t.Fatalf("parseUint(%q) = %d, which formats back to %d, %v", s, v, again, err)
		}
	})
}

// FuzzParseIOStat feeds the io.stat parser: every accepted device line
// written back in the kernel's format parses to the same devices.
func FuzzParseIOStat(f *testing.F) {
	f.Add("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n253:1 rbytes=0 wbytes=4096 rios=0 wios=1 dbytes=0 dios=0\n")
	f.Add("259:0 rbytes=90112 wbytes=0 rios=3 wios=0 dbytes=0 dios=0 cost.vrate=100.00\n")
	f.Add("8:0\n")
	f.Add("8 rbytes=1\n")
	f.Add("4294967296:0 rbytes=1\n")
	f.Add("8:0 rbytes\n")
	f.Add("8:0 rbytes=-1\n")
	f.Fuzz(func(t *testing.T, text string) {
		devs, err := parseIOStat(text)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, d := range devs {
			fmt.Fprintf(&b, "%d:%d rbytes=%d wbytes=%d rios=%d wios=%d dbytes=%d dios=%d\n",
				d.Major, d.Minor, d.ReadBytes, d.WriteBytes, d.ReadIOs, d.WriteIOs, d.DiscardBytes, d.DiscardIOs)
		}
		again, err := parseIOStat(b.String())
		if err != nil || !slices.Equal(devs, again) {
			t.Fatalf("%q parses to %v; written back as %q it parses to %v, %v", text, devs, b.String(), again, err)
		}
	})
}

// FuzzParsePressure feeds the PSI file parser (cpu.pressure,
// memory.pressure, io.pressure): what it accepts, written back in the
// kernel's format, parses to the same figures.
func FuzzParsePressure(f *testing.F) {
	f.Add("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	f.Add("some avg10=1.25 avg60=0.50 avg300=0.10 total=123456\n")
	f.Add("none avg10=0.00\n")
	f.Add("some avg10\n")
	f.Add("some avg10=NaN total=1\n")
	f.Add("some total=-1\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := parsePressure(text)
		if err != nil {
			return
		}
		format := func(kind string, d PressureData) string {
			g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
			return fmt.Sprintf("%s avg10=%s avg60=%s avg300=%s total=%d\n", kind, g(d.Avg10), g(d.Avg60), g(d.Avg300), d.TotalUsec)
		}
		out := format("some", p.Some) + format("full", p.Full)
		again, err := parsePressure(out)
		if err != nil {
			t.Fatalf("%q parses to %+v; written back as %q it is refused: %v", text, p, out, err)
		}
		same := func(a, b PressureData) bool {
			eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
			return eq(a.Avg10, b.Avg10) && eq(a.Avg60, b.Avg60) && eq(a.Avg300, b.Avg300) && a.TotalUsec == b.TotalUsec
		}
		if !same(p.Some, again.Some) || !same(p.Full, again.Full) {
			t.Fatalf("%q parses to %+v; written back as %q it parses to %+v", text, p, out, again)
		}
	})
}

// FuzzValidateUnified feeds CRI unified map entries (linux.resources.unified)
// to their validation. An accepted key is a writable file of a known
// controller that names a file directly inside the cgroup directory, never
// a core file that would break delegation; an accepted value is one the
// kernel can take in a single write. A refused entry is InvalidArgument
// naming the field.
func FuzzValidateUnified(f *testing.F) {
	for _, kv := range [][2]string{
		{"memory.high", "100M"}, {"memory.max", "max"}, {"cpu.max", "max 100000"}, {"io.max", "8:0 rbps=1048576"},
		{"hugetlb.2MB.max", "0"}, {"hugetlb.1GB.rsvd.max", "0"}, {"cgroup.max.descendants", "10"}, {"pids.max", "10"},
		{"cgroup.procs", "1"}, {"../cgroup.procs", "1"}, {"memory.max/../x", "1"}, {"hugetlb.2M.max", "1"},
		{"memory.low", ""}, {"cpu.weight", "1\x00"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		err := validateUnified(key, value)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "linux.resources.unified[") {
				t.Fatalf("validateUnified(%q, %q) = %v, not InvalidArgument naming the field", key, value, err)
			}
			return
		}
		if p := path.Join("/cg", key); path.Dir(p) != "/cg" || path.Base(p) != key {
			t.Errorf("key %q names %s, not a file directly in the cgroup", key, p)
		}
		if strings.HasPrefix(key, "cgroup.") && key != "cgroup.max.depth" && key != "cgroup.max.descendants" {
			t.Errorf("core file %q accepted", key)
		}
		controller := unifiedController(key)
		if _, known := unifiedWritable[controller]; controller != "" && !known {
			t.Errorf("key %q belongs to unknown controller %q", key, controller)
		}
		if strings.ContainsRune(value, 0) || strings.TrimSpace(value) == "" {
			t.Errorf("value %q accepted", value)
		}
		if len(value) > maxUnifiedValue {
			t.Errorf("a %d-byte value is accepted; the kernel takes at most %d bytes in one write", len(value), maxUnifiedValue)
		}
	})
}

// FuzzParseCgroupsPath feeds OCI cgroupsPath values, which crisp builds
// from the CRI cgroup parent, to the parser that places the cgroup. An
// accepted path is a clean absolute directory below the hierarchy root with
// no ".." and no element that could be an interface file; a systemd one is
// owned by a valid unit whose directory ends in that unit.
func FuzzParseCgroupsPath(f *testing.F) {
	for _, s := range []string{
		"/kubepods/burstable/pod1", "/crisp/pod-1/crisp-2", "//a//b/", "/a/../b", "/", "/cgroup.procs", "/a:b",
		"system.slice:crisp:abc", ":crisp:abc", "kubepods-burstable.slice:crisp:abc", "-.slice::kubepods.slice",
		"kubepods.slice::kubepods-burstable-pod1.slice", "a.slice::b-c.slice", "x.slice:p:a/b", "a:b", "a:b:c:d",
		"--.slice::x", "a-.slice:p:n", "kubepods.slice:crisp:" + strings.Repeat("x", 300),
		strings.Repeat("/kubepods", 500),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		loc, err := parseCgroupsPath(p)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("parseCgroupsPath(%q) = %v, not InvalidArgument", p, err)
			}
			return
		}
		checkLocation(t, p, loc)
	})
}

func checkLocation(t *testing.T, p string, loc location) {
	t.Helper()
	if !strings.HasPrefix(loc.rel, "/") || path.Clean(loc.rel) != loc.rel {
		t.Fatalf("parseCgroupsPath(%q) places the cgroup at %q, not a clean absolute path", p, loc.rel)
	}
	if len(loc.rel) >= unix.PathMax {
		t.Fatalf("parseCgroupsPath(%q) places the cgroup at a %d-byte path", p, len(loc.rel))
	}
	if loc.rel == "/" && !loc.systemd() {
		t.Fatalf("parseCgroupsPath(%q) is the hierarchy root", p)
	}
	for _, elem := range strings.Split(loc.rel[1:], "/") {
		if elem == ".." || (loc.rel != "/" && checkCgroupName(elem) != nil) {
			t.Fatalf("parseCgroupsPath(%q) = %q has element %q", p, loc.rel, elem)
		}
	}
	if !loc.systemd() {
		return
	}
	if err := checkUnitName(loc.unit); err != nil {
		t.Fatalf("parseCgroupsPath(%q) = unit %q: %v", p, loc.unit, err)
	}
	if path.Base(loc.rel) != loc.unit && !(loc.unit == "-.slice" && loc.rel == "/") {
		t.Fatalf("parseCgroupsPath(%q) = unit %q at %q", p, loc.unit, loc.rel)
	}
	if _, err := expandSlice(loc.slice); err != nil {
		t.Fatalf("parseCgroupsPath(%q) = unit %q in slice %q: %v", p, loc.unit, loc.slice, err)
	}
}

// FuzzCgroupParent feeds CRI cgroup parents (config.linux.cgroup_parent)
// and ids to the translation into OCI cgroupsPaths for both drivers. An
// accepted parent yields a pod path and a container path that parse, with
// the container's cgroup directly below the pod's; a refused one is
// InvalidArgument.
func FuzzCgroupParent(f *testing.F) {
	for _, s := range []string{
		"", "/kubepods/burstable/pod1", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
		"kubepods-burstable-pod1.slice", "kubepods.slice", "-.slice", "/", "/a/../b", "/-.slice", "a/b.slice",
		"/kubepods.slice/kubepods-besteffort.slice", "/kubepods.slice/x.slice", "relative",
	} {
		f.Add(s, "0123abcd", "c0ffee")
	}
	f.Add("/kubepods", "a/b", "c")
	f.Add("/kubepods", "a", "..")
	f.Fuzz(func(t *testing.T, parent, podID, containerID string) {
		for _, driver := range []string{DriverCgroupfs, DriverSystemd} {
			pod, err := PodCgroupsPath(driver, parent, podID)
			if err != nil {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("PodCgroupsPath(%s, %q, %q) = %v, not InvalidArgument", driver, parent, podID, err)
				}
				continue
			}
			podLoc, err := parseCgroupsPath(pod)
			if err != nil {
				t.Fatalf("PodCgroupsPath(%s, %q, %q) = %q, which does not parse: %v", driver, parent, podID, pod, err)
			}
			checkLocation(t, pod, podLoc)
			if podLoc.systemd() != (driver == DriverSystemd) {
				t.Fatalf("PodCgroupsPath(%s, %q, %q) = %q, a path of the other driver", driver, parent, podID, pod)
			}
			ctr, err := ContainerCgroupsPath(driver, parent, podID, containerID)
			if err != nil {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("ContainerCgroupsPath(%s, %q, %q, %q) = %v, not InvalidArgument", driver, parent, podID, containerID, err)
				}
				continue
			}
			ctrLoc, err := parseCgroupsPath(ctr)
			if err != nil {
				t.Fatalf("ContainerCgroupsPath(%s, %q, %q, %q) = %q, which does not parse: %v", driver, parent, podID, containerID, ctr, err)
			}
			checkLocation(t, ctr, ctrLoc)
			if path.Dir(ctrLoc.rel) != podLoc.rel {
				t.Fatalf("container cgroup %q (from %q) is not directly below pod cgroup %q (from %q)", ctrLoc.rel, ctr, podLoc.rel, pod)
			}
		}
	})
}

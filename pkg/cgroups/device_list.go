package cgroups

import (
	"fmt"
	"maps"
	"slices"

	"golang.org/x/sys/unix"
)

// deviceList is cgroup v1's device list, which OCI device rules were made
// for: a default (allow or deny everything) and exceptions to it, each a
// set of accesses to a node type and major and minor numbers, either of
// which may be any. Rules apply in order: a rule of type a resets the list
// to its verdict; a rule with the default's verdict adds an exception; one
// with the other verdict takes accesses out of an exception. Taking
// accesses out of part of a wider exception (a deny of c 1:3 inside an
// allow of c 1:*) was impossible in cgroup v1, which ignored it silently;
// it is refused rather than half enforced.
type deviceList struct {
	defaultAllow bool
	exceptions   map[deviceKey]uint32
}

// deviceKey is what an exception matches: a node type and numbers.
type deviceKey struct {
	typ          byte
	major, minor int64
}

// apply evaluates one rule.
func (l *deviceList) apply(r deviceRule) error {
	if r.typ == 'a' {
		*l = deviceList{defaultAllow: r.allow}
		return nil
	}
	key := deviceKey{typ: r.typ, major: r.major, minor: r.minor}
	if r.allow == l.defaultAllow {
		return l.remove(key, r.access)
	}
	if l.exceptions == nil {
		l.exceptions = map[deviceKey]uint32{}
	}
	l.exceptions[key] |= r.access
	return nil
}

// remove takes accesses out of the exception for key.
func (l *deviceList) remove(key deviceKey, access uint32) error {
	for _, wider := range []deviceKey{
		{typ: key.typ, major: anyDevice, minor: key.minor},
		{typ: key.typ, major: key.major, minor: anyDevice},
		{typ: key.typ, major: anyDevice, minor: anyDevice},
	} {
		if wider != key && l.exceptions[wider]&access != 0 {
			return fmt.Errorf("%s inside the earlier rule %s is not supported (cgroup v1 could not punch a hole in a wildcard rule)",
				describeDevices(key, access), describeDevices(wider, l.exceptions[wider]))
		}
	}
	if left := l.exceptions[key] &^ access; left != 0 {
		l.exceptions[key] = left
	} else {
		delete(l.exceptions, key)
	}
	return nil
}

// sortedExceptions returns the exceptions in a stable order, so that the
// same rules always make the same program.
func (l *deviceList) sortedExceptions() []deviceKey {
	return slices.SortedFunc(maps.Keys(l.exceptions), func(a, b deviceKey) int {
		switch {
		case a.typ != b.typ:
			return int(a.typ) - int(b.typ)
		case a.major != b.major:
			return compareInt64(a.major, b.major)
		}
		return compareInt64(a.minor, b.minor)
	})
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// permits reports whether the list lets a process make (mknod) or open a
// node of type typ ('c' or 'b') with access, as cgroup v1 decided: with a
// deny default, one exception must grant every access asked for; with an
// allow default, no exception may name any of them.
func (l *deviceList) permits(typ byte, major, minor int64, access uint32) bool {
	for key, granted := range l.exceptions {
		if !key.matches(typ, major, minor) {
			continue
		}
		if l.defaultAllow && granted&access != 0 {
			return false
		}
		if !l.defaultAllow && access&^granted == 0 {
			return true
		}
	}
	return l.defaultAllow
}

func (k deviceKey) matches(typ byte, major, minor int64) bool {
	return k.typ == typ && (k.major == anyDevice || k.major == major) && (k.minor == anyDevice || k.minor == minor)
}

// describeDevices writes an exception as cgroup v1's devices.list did:
// "c 1:* rw".
func describeDevices(key deviceKey, access uint32) string {
	num := func(n int64) string {
		if n == anyDevice {
			return "*"
		}
		return fmt.Sprint(n)
	}
	acc := ""
	for _, a := range []struct {
		bit  uint32
		name string
	}{{unix.BPF_DEVCG_ACC_READ, "r"}, {unix.BPF_DEVCG_ACC_WRITE, "w"}, {unix.BPF_DEVCG_ACC_MKNOD, "m"}} {
		if access&a.bit != 0 {
			acc += a.name
		}
	}
	return fmt.Sprintf("%c %s:%s %s", key.typ, num(key.major), num(key.minor), acc)
}

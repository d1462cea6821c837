package seccomp

import "sort"

// syscall is one entry of a system call table.
type syscall struct {
	name string
	nr   uint32
}

// syscallTable maps system call names to numbers; it is sorted by name.
type syscallTable []syscall

// lookup returns the number of the named system call.
func (t syscallTable) lookup(name string) (uint32, bool) {
	i := sort.Search(len(t), func(i int) bool { return t[i].name >= name })
	if i < len(t) && t[i].name == name {
		return t[i].nr, true
	}
	return 0, false
}

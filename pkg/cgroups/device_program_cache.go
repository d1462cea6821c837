package cgroups

import (
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxCachedDevicePrograms bounds the device programs a hierarchy keeps
// loaded for reuse: a node's containers have a handful of distinct device
// rule sets (a privileged container's, Kubernetes' default, a few with
// devices of their own).
const maxCachedDevicePrograms = 16

// devicePrograms keeps the device programs a hierarchy loaded, by their
// code, so that cgroups with the same rules share one program: the kernel
// verifies every load, about half a millisecond of each container's
// creation on a 2-core host (docs/cgroups.md). A program has no maps and
// no state; it only compares a device's type and numbers with constants,
// so sharing it shares nothing between containers. The least recently
// used program is closed beyond maxCachedDevicePrograms; the cgroups it
// is attached to keep it.
//
// The zero value is ready for use; it is safe for concurrent use.
type devicePrograms struct {
	mu sync.Mutex
	// byCode holds the programs by their encoded instructions (a few
	// kilobytes at most, maxDeviceRules); lru their keys, least recently
	// used first.
	byCode map[string]loadedProgram
	lru    []string
	closed bool
}

// loadedProgram is a device program's descriptor and its kernel id.
type loadedProgram struct {
	fd int
	id uint32
}

// get returns a descriptor of prog, loaded now or before, which the
// caller closes, and the program's id. The load itself runs unlocked: a
// large program takes the verifier a tenth of a second, which other
// cgroups' programs need not wait for.
func (c *devicePrograms) get(prog []bpfInsn) (loadedProgram, error) {
	code := encodeProgram(prog)
	key := string(code)
	c.mu.Lock()
	p, ok := c.byCode[key]
	if ok {
		c.lru = slices.DeleteFunc(c.lru, func(k string) bool { return k == key })
		c.lru = append(c.lru, key)
		defer c.mu.Unlock()
		return dupProgram(p)
	}
	c.mu.Unlock()
	p, err := loadProgram(code)
	if err != nil {
		return loadedProgram{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byCode[key]; ok || c.closed {
		// Loaded meanwhile by another caller, or the hierarchy is closed:
		// this copy is the caller's alone.
		return p, nil
	}
	c.add(key, p)
	return dupProgram(p)
}

// dupProgram returns a descriptor of p of the caller's own: the cached one
// may be closed by an eviction before the caller is done with it.
func dupProgram(p loadedProgram) (loadedProgram, error) {
	fd, err := unix.FcntlInt(uintptr(p.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return loadedProgram{}, fmt.Errorf("duplicate device program descriptor: %w", err)
	}
	return loadedProgram{fd: fd, id: p.id}, nil
}

// add caches p under key, closing the least recently used program when the
// cache is full.
func (c *devicePrograms) add(key string, p loadedProgram) {
	if c.byCode == nil {
		c.byCode = map[string]loadedProgram{}
	}
	if len(c.lru) == maxCachedDevicePrograms {
		oldest := c.lru[0]
		c.lru = c.lru[1:]
		unix.Close(c.byCode[oldest].fd)
		delete(c.byCode, oldest)
	}
	c.byCode[key] = p
	c.lru = append(c.lru, key)
}

// close closes the cached programs; get loads without caching after it.
func (c *devicePrograms) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.byCode {
		unix.Close(p.fd)
	}
	c.byCode, c.lru, c.closed = nil, nil, true
}

// loadProgram loads the encoded program code and reads its id.
func loadProgram(code []byte) (loadedProgram, error) {
	fd, err := loadEncodedProgram(code)
	if err != nil {
		return loadedProgram{}, err
	}
	id, err := programID(fd)
	if err != nil {
		unix.Close(fd)
		return loadedProgram{}, err
	}
	return loadedProgram{fd: fd, id: id}, nil
}

// bpfObjInfoAttr is union bpf_attr for BPF_OBJ_GET_INFO_BY_FD.
type bpfObjInfoAttr struct {
	bpfFd   uint32
	infoLen uint32
	info    unsafe.Pointer
}

// bpfProgInfoPrefix is the start of struct bpf_prog_info; the kernel fills
// as much of the struct as the caller's length asks for.
type bpfProgInfoPrefix struct {
	progType uint32
	id       uint32
}

// programID returns the kernel's id of the program fd.
func programID(fd int) (uint32, error) {
	var info bpfProgInfoPrefix
	attr := bpfObjInfoAttr{bpfFd: uint32(fd), infoLen: uint32(unsafe.Sizeof(info)), info: unsafe.Pointer(&info)}
	if _, err := bpfCall(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return 0, fmt.Errorf("device program id: %w", err)
	}
	return info.id, nil
}

package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bpf(2) calls that load a device program and attach it to a cgroup.
// Each attribute struct is the prefix of union bpf_attr the command reads;
// the kernel accepts a shorter union than its own. Its pointers are
// unsafe.Pointer, not integers, so that the memory they point to stays
// alive and, on a goroutine stack that moves, is followed; the kernel's
// __aligned_u64 holds them on the 64-bit systems crisp runs on.

// bpfProgLoadAttr is union bpf_attr for BPF_PROG_LOAD, up to prog_name.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       unsafe.Pointer
	license     unsafe.Pointer
	logLevel    uint32
	logSize     uint32
	logBuf      unsafe.Pointer
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

// bpfProgAttachAttr is union bpf_attr for BPF_PROG_ATTACH and
// BPF_PROG_DETACH.
type bpfProgAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

// bpfProgQueryAttr is union bpf_attr for BPF_PROG_QUERY.
type bpfProgQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     unsafe.Pointer
	progCnt     uint32
	_           uint32
}

// bpfGetFdByIDAttr is union bpf_attr for BPF_PROG_GET_FD_BY_ID.
type bpfGetFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

func bpfCall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// deviceProgramName names crisp's programs in bpftool's listings.
const deviceProgramName = "crisp_devices"

// maxAttachedDevicePrograms bounds the programs attachDeviceProgram
// replaces: crisp attaches one per cgroup.
const maxAttachedDevicePrograms = 64

// loadDeviceProgram loads prog and returns its descriptor. A program the
// verifier refuses is an error with the verifier's last words.
func loadDeviceProgram(prog []bpfInsn) (int, error) {
	return loadEncodedProgram(encodeProgram(prog))
}

// loadEncodedProgram is loadDeviceProgram of instructions encodeProgram
// encoded already.
func loadEncodedProgram(code []byte) (int, error) {
	license := []byte("Apache-2.0\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(code) / bpfInsnSize),
		insns:    unsafe.Pointer(&code[0]),
		license:  unsafe.Pointer(&license[0]),
	}
	copy(attr.progName[:], deviceProgramName)
	fd, err := progLoad(&attr)
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINVAL) {
		return -1, fmt.Errorf("load device program: %w", err)
	}
	// Load again with the verifier's log, to say why.
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), unsafe.Pointer(&log[0])
	if fd, err := progLoad(&attr); err == nil {
		return fd, nil
	}
	lines := bytes.Split(bytes.TrimRight(bytes.TrimRight(log, "\x00"), "\n"), []byte("\n"))
	return -1, fmt.Errorf("load device program: %w: %s", err, lines[len(lines)-1])
}

// maxProgLoadAttempts bounds the retries of an interrupted BPF_PROG_LOAD:
// enough for any rate of signals a process sees, short of a storm.
const maxProgLoadAttempts = 1000

// progLoad runs BPF_PROG_LOAD. The verifier gives up with EAGAIN when a
// signal is pending, and the Go runtime signals its threads to preempt
// goroutines (SIGURG), so an interrupted load is tried again.
func progLoad(attr *bpfProgLoadAttr) (int, error) {
	for attempt := 1; ; attempt++ {
		fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
		if !errors.Is(err, unix.EAGAIN) || attempt == maxProgLoadAttempts {
			return fd, err
		}
	}
}

// attachedDevicePrograms returns the ids of the device programs attached
// to the cgroup dirFd.
func attachedDevicePrograms(dirFd int) ([]uint32, error) {
	ids := make([]uint32, maxAttachedDevicePrograms)
	attr := bpfProgQueryAttr{
		targetFd:   uint32(dirFd),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    unsafe.Pointer(&ids[0]),
		progCnt:    uint32(len(ids)),
	}
	if _, err := bpfCall(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return nil, fmt.Errorf("query device programs: %w", err)
	}
	return ids[:min(attr.progCnt, uint32(len(ids)))], nil
}

// attachDeviceProgram attaches prog to the cgroup dir in place of the
// device programs attached there: atomically when exactly one other is
// (BPF_F_REPLACE, Linux 5.6), else the new one first and the old ones
// detached after, so that the cgroup is never without a filter. While both
// are attached, an access must pass both. prog already attached (a shared
// program, the same rules applied again) stays, and the others go.
func attachDeviceProgram(dir string, prog loadedProgram) error {
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	defer unix.Close(dirFd)
	old, err := attachedDevicePrograms(dirFd)
	if err != nil {
		return err
	}
	attached := slices.Contains(old, prog.id)
	old = slices.DeleteFunc(old, func(id uint32) bool { return id == prog.id })
	attach := bpfProgAttachAttr{
		targetFd: uint32(dirFd), attachBpfFd: uint32(prog.fd),
		attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if !attached && len(old) == 1 {
		oldFd, err := deviceProgramFd(old[0])
		if err != nil {
			return err
		}
		replace := attach
		replace.attachFlags |= unix.BPF_F_REPLACE
		replace.replaceBpfFd = uint32(oldFd)
		_, err = bpfCall(unix.BPF_PROG_ATTACH, unsafe.Pointer(&replace), unsafe.Sizeof(replace))
		unix.Close(oldFd)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("replace device program: %w", err)
		}
		// A kernel without BPF_F_REPLACE: attach, then detach.
	}
	if !attached {
		if _, err := bpfCall(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
			return fmt.Errorf("attach device program: %w", err)
		}
	}
	for _, id := range old {
		oldFd, err := deviceProgramFd(id)
		if errors.Is(err, unix.ENOENT) {
			continue // detached meanwhile
		}
		if err != nil {
			return err
		}
		detach := bpfProgAttachAttr{targetFd: uint32(dirFd), attachBpfFd: uint32(oldFd), attachType: unix.BPF_CGROUP_DEVICE}
		_, err = bpfCall(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach))
		unix.Close(oldFd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach old device program %d: %w", id, err)
		}
	}
	return nil
}

// deviceProgramFd opens the program with id.
func deviceProgramFd(id uint32) (int, error) {
	attr := bpfGetFdByIDAttr{id: id}
	fd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("open device program %d: %w", id, err)
	}
	return fd, nil
}

package oci

import (
	"encoding/binary"
	"strconv"

	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// program is the container init's list of operations. The parent compiles
// it from the spec; the init carries it out in C, in the container, so the
// container never starts the Go runtime (see pkg/oci/nsenter/init.h).
//
// Encoding, little-endian: the total length (uint32), then per operation
// its code and argument count (uint32 each) and per argument its length
// (uint32), its bytes and a NUL. The first two arguments of every operation
// are the context of its errors and the spec field they name.
type program struct {
	buf []byte
}

// step is an operation's error context: what it does and the spec field an
// error of it names ("" when an error is not the field's fault).
type step struct {
	what, field string
}

func (p *program) add(op nsenter.Op, s step, args ...string) {
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(op))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(args)+2))
	p.arg(s.what)
	p.arg(s.field)
	for _, a := range args {
		p.arg(a)
	}
}

func (p *program) arg(a string) {
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(a)))
	p.buf = append(p.buf, a...)
	p.buf = append(p.buf, 0)
}

// bytes returns the program as sent on the sync socket.
func (p *program) bytes() []byte {
	out := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(p.buf)), uint32(len(p.buf)))
	return append(out, p.buf...)
}

func num[T ~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64 | ~uintptr](v T) string {
	if v < 0 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatUint(uint64(v), 10)
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Package progdecode runs the container init's program decoder, the C in
// pkg/oci/nsenter/decode.h, from Go: the fuzz target beside the encoder
// (pkg/oci/program.go) checks the two against each other. cgo may not be
// used in tests, so this small package carries the call. crisp itself
// never uses it.
package progdecode

/*
#cgo CFLAGS: -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wall -Wextra -Werror -Wformat=2
#include <stdlib.h>
#include "../../nsenter/decode.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Op is a decoded operation: its code and its arguments, the error context
// and the spec field first.
type Op struct {
	Code uint32
	Args [][]byte
}

// ErrMalformed is returned for a program the init refuses.
var ErrMalformed = errors.New("malformed program")

// Decode decodes a program's operations (the bytes after its total length)
// as the init does. It returns the operations decoded before the first
// malformed one, with an error that names it.
func Decode(body []byte) ([]Op, error) {
	if len(body) == 0 {
		return nil, nil
	}
	// The decoder keeps pointers into its buffer: it must be C memory, of
	// exactly the program's size, so that a read past it is one past the
	// allocation.
	buf := (*C.uchar)(C.CBytes(body))
	defer C.free(unsafe.Pointer(buf))
	var ops []Op
	n := C.size_t(len(body))
	for off := C.size_t(0); off < n; {
		var op C.struct_crisp_op
		var used C.size_t
		rc := C.crisp_decode((*C.uchar)(unsafe.Add(unsafe.Pointer(buf), off)), n-off, &op, &used)
		if rc != C.CRISP_DECODE_OK {
			return ops, fmt.Errorf("operation %d at byte %d (code %d, %d arguments): result %d: %w", len(ops), off, op.code, op.argc, rc, ErrMalformed)
		}
		if used == 0 || used > n-off {
			C.crisp_op_free(&op)
			return ops, fmt.Errorf("operation %d at byte %d used %d of %d bytes", len(ops), off, used, n-off)
		}
		argv := unsafe.Slice(op.argv, op.argc+1)
		lens := unsafe.Slice(op.len, op.argc)
		d := Op{Code: uint32(op.code), Args: make([][]byte, op.argc)}
		for i := range d.Args {
			d.Args[i] = C.GoBytes(unsafe.Pointer(argv[i]), C.int(lens[i]))
		}
		if argv[op.argc] != nil {
			C.crisp_op_free(&op)
			return ops, fmt.Errorf("operation %d: its argument list does not end", len(ops))
		}
		C.crisp_op_free(&op)
		ops = append(ops, d)
		off += used
	}
	return ops, nil
}

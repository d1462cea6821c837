// Package capped is a buffer that keeps the first bytes written to it, up
// to a bound, for reading what another process writes without letting it
// grow crisp's memory.
package capped

import "bytes"

// Buffer keeps the first Max bytes written to it and notes whether more
// came. A write never fails, so the writer is not cut off midway. The
// bytes.Buffer is a field, not embedded, so that io.Copy cannot go around
// Write through its ReadFrom.
type Buffer struct {
	Max      int
	buf      bytes.Buffer
	overflow bool
}

func (b *Buffer) Write(p []byte) (int, error) {
	room := max(b.Max-b.buf.Len(), 0)
	if len(p) > room {
		b.overflow = true
		b.buf.Write(p[:room])
		return len(p), nil
	}
	return b.buf.Write(p)
}

// Bytes returns what was kept.
func (b *Buffer) Bytes() []byte { return b.buf.Bytes() }

// Overflowed reports whether more than Max bytes were written.
func (b *Buffer) Overflowed() bool { return b.overflow }

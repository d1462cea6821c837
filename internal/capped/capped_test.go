package capped

import (
	"bytes"
	"io"
	"testing"
)

func TestBuffer(t *testing.T) {
	const limit = 64
	tests := []struct {
		name     string
		writes   []int
		want     int
		overflow bool
	}{
		{"under the cap", []int{10, 20}, 30, false},
		{"exactly the cap", []int{limit}, limit, false},
		{"one write over", []int{limit + 5}, limit, true},
		{"over across writes", []int{limit - 3, 10, 10}, limit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Buffer{Max: limit}
			for i, n := range tt.writes {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				if got, err := b.Write(p); got != n || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v; want all taken", n, got, err)
				}
			}
			if len(b.Bytes()) != tt.want || b.Overflowed() != tt.overflow {
				t.Errorf("kept %d bytes, overflowed %v; want %d, %v", len(b.Bytes()), b.Overflowed(), tt.want, tt.overflow)
			}
		})
	}
}

// io.Copy, as exec.Cmd uses for its output, is bounded too.
func TestBufferBoundsCopy(t *testing.T) {
	b := &Buffer{Max: 16}
	if _, err := io.Copy(b, bytes.NewReader(make([]byte, 1<<20))); err != nil {
		t.Fatal(err)
	}
	if len(b.Bytes()) != 16 || !b.Overflowed() {
		t.Errorf("kept %d bytes, overflowed %v", len(b.Bytes()), b.Overflowed())
	}
}

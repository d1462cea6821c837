package oci

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// TestProgramEncoding checks the layout the init decodes: the total
// length, then per operation its code, its argument count (with the error
// context and field) and each argument's length, bytes and NUL.
func TestProgramEncoding(t *testing.T) {
	p := &program{}
	p.add(nsenter.OpChdir, step{what: "process.cwd", field: "f"}, "/x")
	got := p.bytes()
	le := binary.LittleEndian
	want := le.AppendUint32(nil, 0)
	want = le.AppendUint32(want, uint32(nsenter.OpChdir))
	want = le.AppendUint32(want, 3)
	for _, a := range []string{"process.cwd", "f", "/x"} {
		want = le.AppendUint32(want, uint32(len(a)))
		want = append(append(want, a...), 0)
	}
	le.PutUint32(want, uint32(len(want)-4))
	if string(got) != string(want) {
		t.Errorf("program\n%q\nwant\n%q", got, want)
	}
}

// TestInitRejectsBadPrograms sends the init programs it must refuse: each
// failure comes back as an error naming the problem, and the init is gone.
func TestInitRejectsBadPrograms(t *testing.T) {
	rt := newTestRuntime(t)
	exe, err := rt.sealed()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	frame := func(body []byte) []byte { return append(le.AppendUint32(nil, uint32(len(body))), body...) }
	noArgs := le.AppendUint32(le.AppendUint32(nil, uint32(nsenter.OpChdir)), 0)
	truncated := le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, uint32(nsenter.OpChdir)), 3), 100)
	unknown := &program{}
	unknown.add(nsenter.Op(999), step{what: "x"})
	noExec := &program{}
	noExec.add(nsenter.OpUmask, step{what: "umask"}, "18")
	badNumber := &program{}
	badNumber.add(nsenter.OpUmask, step{what: "umask"}, "eighteen")
	for _, tc := range []struct {
		name string
		prog []byte
		want string
	}{
		{"no arguments", frame(noArgs), "has 0 arguments"},
		{"truncated", frame(truncated), "truncated operation"},
		{"unknown operation", unknown.bytes(), "unknown operation 999"},
		{"no exec", noExec.bytes(), "ended without executing the process"},
		{"bad number", badNumber.bytes(), `"eighteen" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l := &launch{exe: exe}
			p, err := l.start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer p.abort()
			if err := p.conn.sendProgram(tc.prog); err != nil {
				t.Fatal(err)
			}
			_, err = p.conn.expect()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("init answered %v, want an error containing %q", err, tc.want)
			}
			if err := waitGone(ctx, p.init); err != nil {
				t.Errorf("init still runs: %v", err)
			}
		})
	}
}

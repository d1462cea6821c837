package oci

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/oci/internal/progdecode"
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
	nul := &program{}
	nul.add(nsenter.OpChdir, step{what: "process.cwd"}, "/tmp\x00/nonexistent")
	// A count that wraps around when added to in 32 bits.
	execWraps := &program{}
	execWraps.add(nsenter.OpExec, step{what: "exec"}, "4294967295", "sh")
	hookWraps := &program{}
	hookWraps.add(nsenter.OpHook, step{what: "hook"}, "/bin/true", "5", "{}", "4294967295")
	// A timeout whose milliseconds overflow: saturated, the hook runs to
	// its end rather than timing out at once.
	hugeTimeout := &program{}
	hugeTimeout.add(nsenter.OpHook, step{what: "hook"}, "/bin/true", "9223372036854775807", "{}", "0")
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
		{"NUL in a string", nul.bytes(), "argument 0 has a NUL byte"},
		{"exec argument count", execWraps.bytes(), "4294967295 arguments"},
		{"hook argument count", hookWraps.bytes(), "4294967295 arguments"},
		{"huge hook timeout", hugeTimeout.bytes(), "ended without executing the process"},
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

// realPrograms compiles programs as Create and Exec do, from specs that use
// every kind of argument: strings, numbers, hooks and a seccomp filter.
func realPrograms(t testing.TB) [][]byte {
	t.Helper()
	spec := Example()
	spec.Process.Terminal = false
	spec.Process.Env = append(spec.Process.Env, "EMPTY=", "QUOTE=\"\\")
	spec.Process.Args = []string{"sh", "-c", "echo hi", ""}
	spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}}
	spec.Linux.Sysctl = map[string]string{"kernel.msgmax": "8192"}
	spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/hook", Args: []string{"hook", "a"}, Env: []string{"X=1"}}}}
	spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}},
	}
	var progs [][]byte
	for _, exec := range []bool{false, true} {
		cfg := &initConfig{
			ID: "c", Bundle: "/b", Rootfs: "/b/rootfs", Spec: spec, Process: spec.Process, Exec: exec,
			CgroupDir: "/sys/fs/cgroup/c", StateDirFD: 7, ConsoleFD: -1, State: &specs.State{ID: "c"},
			CgroupNS: true,
		}
		prog, err := compileInit(cfg, func(string) {})
		if err != nil {
			t.Fatalf("compile (exec %v): %v", exec, err)
		}
		progs = append(progs, prog[4:]) // without the total length
	}
	return progs
}

// reencode encodes decoded operations again with the Go encoder.
func reencode(ops []progdecode.Op) []byte {
	p := &program{}
	for _, op := range ops {
		args := make([]string, 0, len(op.Args)-2)
		for _, a := range op.Args[2:] {
			args = append(args, string(a))
		}
		p.add(nsenter.Op(op.Code), step{what: string(op.Args[0]), field: string(op.Args[1])}, args...)
	}
	return p.buf
}

// The init's C decoder reads back exactly what the Go encoder wrote.
func TestProgramRoundTrip(t *testing.T) {
	for i, prog := range realPrograms(t) {
		ops, err := progdecode.Decode(prog)
		if err != nil {
			t.Fatalf("program %d: %v", i, err)
		}
		if len(ops) < 5 {
			t.Fatalf("program %d: %d operations", i, len(ops))
		}
		if got := reencode(ops); !bytes.Equal(got, prog) {
			t.Errorf("program %d decoded and encoded again differs", i)
		}
	}
}

// FuzzDecode feeds the init's decoder real programs, cut and corrupted: it
// must refuse what is malformed without reading outside its input, and
// what it accepts must be what the encoder writes for those operations.
func FuzzDecode(f *testing.F) {
	le := binary.LittleEndian
	for _, prog := range realPrograms(f) {
		f.Add(prog)
		for _, cut := range []int{1, 7, 8, 12, len(prog) / 2, len(prog) - 1} {
			f.Add(prog[:cut])
		}
		for _, off := range []int{4, 8} {
			bad := bytes.Clone(prog)
			le.PutUint32(bad[off:], 0xffffffff) // a huge argument count, then length
			f.Add(bad)
		}
		noNUL := bytes.Clone(prog)
		noNUL[8+4+le.Uint32(prog[8:])] = 'x' // the first argument's NUL
		f.Add(noNUL)
	}
	f.Add([]byte{})
	f.Add(le.AppendUint32(le.AppendUint32(nil, uint32(nsenter.OpChdir)), 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := progdecode.Decode(data)
		if err != nil {
			if !errors.Is(err, progdecode.ErrMalformed) {
				t.Fatal(err)
			}
			return
		}
		if got := reencode(ops); !bytes.Equal(got, data) {
			t.Fatalf("accepted %q, which encodes as %q", data, got)
		}
	})
}

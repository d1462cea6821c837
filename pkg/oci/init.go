package oci

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
	"github.com/crisp-runtime/crisp/pkg/oci/seccomp"
)

// defaultPath is the PATH the executable is looked up in when the process
// sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// compileInit compiles what the init does in the container, in order: the
// root file system and the namespaced settings, the terminal, the process's
// attributes, seccomp and credentials, the report that it is ready, the
// wait for start, and exec.
// Warnings of the compilation (unknown seccomp syscalls) go to warn.
func compileInit(cfg *initConfig, warn func(string)) ([]byte, error) {
	spec, proc := cfg.Spec, cfg.Process
	p := &program{}
	switch {
	case !cfg.Exec:
		if err := compileRootfs(p, cfg); err != nil {
			return nil, err
		}
	case cfg.SharedMountNS:
		p.add(nsenter.OpPivotRoot, step{what: "enter the container's root"}, cfg.Rootfs, "2")
	}
	if proc.Terminal {
		var rows, cols uint
		if proc.ConsoleSize != nil {
			rows, cols = proc.ConsoleSize.Height, proc.ConsoleSize.Width
		}
		p.add(nsenter.OpConsole, step{what: "process.terminal"}, num(cfg.ConsoleFD), num(rows), num(cols))
	}
	p.add(nsenter.OpChdir, step{what: "process.cwd " + proc.Cwd, field: "process.cwd"}, proc.Cwd)
	compileRlimits(p, proc.Rlimits)
	p.add(nsenter.OpLookPath, step{what: "", field: "process.args[0]"}, proc.Args[0], processPath(proc))
	var filter *seccomp.Filter
	if spec.Linux.Seccomp != nil {
		var err error
		if filter, err = seccomp.Compile(spec.Linux.Seccomp, warn); err != nil {
			return nil, fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it
	// while the process still has it (runc does the same).
	if filter != nil && !proc.NoNewPrivileges {
		if err := compileSeccomp(p, filter); err != nil {
			return nil, err
		}
	}
	if err := compileCredentials(p, proc); err != nil {
		return nil, err
	}
	if proc.NoNewPrivileges {
		p.add(nsenter.OpNoNewPrivs, step{what: "process.noNewPrivileges"})
	}
	if proc.ApparmorProfile != "" {
		// The kernel switches to the profile at the next execve, the
		// process's own (or a startContainer hook's, which runs in the
		// container): set it while failures still reach the caller.
		p.add(nsenter.OpAppArmor, step{what: "AppArmor profile " + proc.ApparmorProfile, field: "process.apparmorProfile"}, proc.ApparmorProfile)
	}
	p.add(nsenter.OpReady, step{})
	if !cfg.Exec {
		p.add(nsenter.OpWaitStart, step{}, num(cfg.StateDirFD))
		if spec.Hooks != nil {
			st := *cfg.State
			st.Status = specs.StateRunning
			if err := compileHooks(p, "startContainer", spec.Hooks.StartContainer, &st); err != nil {
				return nil, err
			}
		}
	}
	p.add(nsenter.OpPrepareExec, step{what: "prepare exec"}, num(cfg.PreservedFDs))
	// With no_new_privs the filter comes last, right before execve, so
	// that it need not allow the init's own system calls.
	if filter != nil && proc.NoNewPrivileges {
		if err := compileSeccomp(p, filter); err != nil {
			return nil, err
		}
	}
	args := append([]string{num(len(proc.Args))}, proc.Args...)
	p.add(nsenter.OpExec, step{}, append(args, proc.Env...)...)
	return p.bytes(), nil
}

// compileNamespaced sets the hostname, domain name and sysctls, in the
// container's namespaces, before /proc/sys becomes read-only.
func compileNamespaced(p *program, spec *specs.Spec) {
	if spec.Hostname != "" {
		p.add(nsenter.OpSethostname, step{what: "hostname"}, spec.Hostname)
	}
	if spec.Domainname != "" {
		p.add(nsenter.OpSetdomainname, step{what: "domainname"}, spec.Domainname)
	}
	compileSysctls(p, spec.Linux.Sysctl)
}

func compileSeccomp(p *program, f *seccomp.Filter) error {
	flags, err := f.Flags()
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	p.add(nsenter.OpSeccomp, step{what: "linux.seccomp"}, num(flags), string(f.Instructions()))
	return nil
}

// processPath is the PATH the process's executable is looked up in.
func processPath(proc *specs.Process) string {
	path := defaultPath
	for _, kv := range proc.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	return path
}

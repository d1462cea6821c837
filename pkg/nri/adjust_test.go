package nri

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func baseSpec() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{Args: []string{"sh"}, Env: []string{"PATH=/bin", "KEEP=1", "DROP=1"},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}, {Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm"}},
		Linux: &specs.Linux{},
	}
}

func noCDI(*specs.Spec, []string) error { return errors.New("no CDI in this test") }

// TestApplyAdjustment: what the protocol offers and crisp applies lands in
// the spec as containerd's generator would put it.
func TestApplyAdjustment(t *testing.T) {
	dir := t.TempDir()
	a := &api.ContainerAdjustment{}
	a.AddEnv("PATH", "/usr/bin")
	a.RemoveEnv("DROP")
	a.AddEnv("NEW", "v")
	a.AddMount(&api.Mount{Destination: "/data/sub", Source: dir, Type: "bind", Options: []string{"rbind", "ro"}})
	a.AddMount(&api.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs"})
	a.RemoveMount("/dev/shm")
	a.AddAnnotation("nri.example/added", "yes")
	a.SetArgs([]string{"sleep", "1"})
	a.AddRlimit("RLIMIT_NOFILE", 4096, 2048)
	a.SetLinuxCPUQuota(25000)
	a.SetLinuxCPUPeriod(100000)
	a.SetLinuxMemoryLimit(1 << 30)
	a.AddLinuxUnified("memory.high", "900000000")
	a.SetLinuxPidLimits(99)
	a.SetLinuxOomScoreAdj(ptr(500))
	a.AddDevice(&api.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229})
	s := baseSpec()
	if err := applyAdjustment(s, a, noCDI); err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/usr/bin", "KEEP=1", "NEW=v"}; !slices.Equal(s.Process.Env, want) {
		t.Errorf("env %v, want %v", s.Process.Env, want)
	}
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	if want := []string{"/proc", "/dev", "/data", "/data/sub"}; !slices.Equal(dests, want) {
		t.Errorf("mounts %v, want %v", dests, want)
	}
	if !slices.Equal(s.Process.Args, []string{"sleep", "1"}) || s.Annotations["nri.example/added"] != "yes" {
		t.Errorf("args %v, annotations %v", s.Process.Args, s.Annotations)
	}
	if want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 2048}}; !slices.Equal(s.Process.Rlimits, want) {
		t.Errorf("rlimits %v", s.Process.Rlimits)
	}
	r := s.Linux.Resources
	if *r.CPU.Quota != 25000 || *r.CPU.Period != 100000 || *r.Memory.Limit != 1<<30 || *r.Memory.Swap != 1<<30 ||
		r.Unified["memory.high"] != "900000000" || *r.Pids.Limit != 99 {
		t.Errorf("resources %+v", r)
	}
	if *s.Process.OOMScoreAdj != 500 {
		t.Errorf("oom score %d", *s.Process.OOMScoreAdj)
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/fuse" || len(r.Devices) != 1 || !r.Devices[0].Allow {
		t.Errorf("devices %+v, cgroup rules %+v", s.Linux.Devices, r.Devices)
	}
}

func ptr[T any](v T) *T { return &v }

// TestAdjustmentRefused: every part of the protocol crisp cannot apply, and
// every hostile value, fails the container naming the field; nothing is
// dropped silently.
func TestAdjustmentRefused(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "hook")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	many := &api.ContainerAdjustment{}
	for range maxItems + 1 {
		many.AddEnv("A", "b")
	}
	for name, tc := range map[string]struct {
		adjust func(a *api.ContainerAdjustment)
		field  string
	}{
		"cgroups path": {func(a *api.ContainerAdjustment) { a.SetLinuxCgroupsPath("/elsewhere") }, "linux.cgroups_path"},
		"namespace": {func(a *api.ContainerAdjustment) {
			a.AddOrReplaceNamespace(&api.LinuxNamespace{Type: "network", Path: "/proc/1/ns/net"})
		}, "linux.namespaces"},
		"rdt class":     {func(a *api.ContainerAdjustment) { a.SetLinuxRDTClass("gold") }, "linux.resources.rdt_class"},
		"blockio class": {func(a *api.ContainerAdjustment) { a.SetLinuxBlockIOClass("slow") }, "linux.resources.blockio_class"},
		"rdt clos":      {func(a *api.ContainerAdjustment) { a.SetLinuxRDTClosID("c1") }, "linux.rdt"},
		"io priority": {func(a *api.ContainerAdjustment) {
			a.SetLinuxIOPriority(&api.LinuxIOPriority{Class: api.IOPrioClass_IOPRIO_CLASS_BE})
		}, "linux.io_priority"},
		"scheduler": {func(a *api.ContainerAdjustment) {
			a.SetLinuxScheduler(&api.LinuxScheduler{Policy: api.LinuxSchedulerPolicy_SCHED_BATCH})
		}, "linux.scheduler"},
		"realtime":   {func(a *api.ContainerAdjustment) { a.SetLinuxCPURealtimeRuntime(100) }, "linux.resources.cpu.realtime_runtime"},
		"swappiness": {func(a *api.ContainerAdjustment) { a.SetLinuxMemorySwappiness(10) }, "linux.resources.memory.swappiness"},
		"net device": {func(a *api.ContainerAdjustment) { a.AddLinuxNetDevice("eth1", &api.LinuxNetDevice{Name: "eth1"}) }, "linux.net_devices"},
		"relative mount": {func(a *api.ContainerAdjustment) {
			a.AddMount(&api.Mount{Destination: "data", Source: dir, Type: "bind"})
		}, "mounts[0].destination"},
		"dotdot mount": {func(a *api.ContainerAdjustment) {
			a.AddMount(&api.Mount{Destination: "/a/../../etc", Source: dir, Type: "bind"})
		}, "mounts[0].destination"},
		"missing source": {func(a *api.ContainerAdjustment) {
			a.AddMount(&api.Mount{Destination: "/d", Source: dir + "/nope", Type: "bind"})
		}, "mounts[0].source"},
		"relative source": {func(a *api.ContainerAdjustment) {
			a.AddMount(&api.Mount{Destination: "/d", Source: "etc", Options: []string{"rbind"}})
		}, "mounts[0].source"},
		"hook not exec":   {func(a *api.ContainerAdjustment) { a.AddHooks(&api.Hooks{Prestart: []*api.Hook{{Path: notExec}}}) }, "hooks.prestart[0].path"},
		"device not /dev": {func(a *api.ContainerAdjustment) { a.AddDevice(&api.LinuxDevice{Path: "/etc/passwd", Type: "c"}) }, "linux.devices[0].path"},
		"device type":     {func(a *api.ContainerAdjustment) { a.AddDevice(&api.LinuxDevice{Path: "/dev/x", Type: "z"}) }, "linux.devices[0].type"},
		"env NUL":         {func(a *api.ContainerAdjustment) { a.AddEnv("A", "b\x00c") }, "env[0].value"},
		"env name":        {func(a *api.ContainerAdjustment) { a.AddEnv("A=B", "c") }, "env[0].key"},
		"long arg":        {func(a *api.ContainerAdjustment) { a.SetArgs([]string{strings.Repeat("x", maxString+1)}) }, "args[0]"},
		"too many env":    {func(a *api.ContainerAdjustment) { a.Env = many.Env }, "env"},
		"oom score":       {func(a *api.ContainerAdjustment) { a.SetLinuxOomScoreAdj(ptr(5000)) }, "linux.oom_score_adj"},
		"rlimit soft":     {func(a *api.ContainerAdjustment) { a.AddRlimit("RLIMIT_NOFILE", 1, 2) }, "rlimits[0].soft"},
		"unified path":    {func(a *api.ContainerAdjustment) { a.AddLinuxUnified("../../cgroup.procs", "1") }, "linux.resources.unified"},
		"seccomp listener": {func(a *api.ContainerAdjustment) {
			a.SetLinuxSeccompPolicy(&api.LinuxSeccomp{ListenerPath: "/run/x.sock"})
		}, "linux.seccomp_policy.listener_path"},
	} {
		t.Run(name, func(t *testing.T) {
			a := &api.ContainerAdjustment{}
			tc.adjust(a)
			err := applyAdjustment(baseSpec(), a, noCDI)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "NRI adjustment "+tc.field) {
				t.Errorf("got %v, want InvalidArgument naming NRI adjustment %s", err, tc.field)
			}
		})
	}
}

// TestAdjustmentNoop: the empty parts the adaptation answers with when no
// plugin adjusts anything change nothing.
func TestAdjustmentNoop(t *testing.T) {
	a := &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{Rdt: &api.LinuxRdt{Remove: true},
		Resources: &api.LinuxResources{Memory: &api.LinuxMemory{}, Cpu: &api.LinuxCPU{}}}}
	s := baseSpec()
	if err := applyAdjustment(s, a, noCDI); err != nil {
		t.Fatal(err)
	}
	if want := baseSpec(); !slices.Equal(s.Process.Env, want.Process.Env) || len(s.Mounts) != len(want.Mounts) {
		t.Errorf("an empty adjustment changed the spec: %+v", s)
	}
}

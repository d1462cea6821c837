package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestProcessArgs(t *testing.T) {
	img := imgspecv1.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"cmd", "x"}}
	for _, tc := range []struct {
		name          string
		command, args []string
		img           imgspecv1.ImageConfig
		want          []string
	}{
		{"image entrypoint and cmd", nil, nil, img, []string{"/entry", "cmd", "x"}},
		{"args replace the cmd", nil, []string{"a"}, img, []string{"/entry", "a"}},
		{"command replaces entrypoint and cmd", []string{"/bin/true"}, nil, img, []string{"/bin/true"}},
		{"command and args", []string{"/bin/echo"}, []string{"a", "b"}, img, []string{"/bin/echo", "a", "b"}},
		{"cmd only", nil, nil, imgspecv1.ImageConfig{Cmd: []string{"sh"}}, []string{"sh"}},
		{"args only", nil, []string{"sh", "-c", "id"}, imgspecv1.ImageConfig{}, []string{"sh", "-c", "id"}},
		{"empty entrypoint resets", nil, nil, imgspecv1.ImageConfig{Entrypoint: []string{""}, Cmd: []string{"sh"}}, []string{"sh"}},
		{"nothing", nil, nil, imgspecv1.ImageConfig{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := processArgs(&runtimeapi.ContainerConfig{Command: tc.command, Args: tc.args}, tc.img)
			if tc.want == nil {
				checkFieldError(t, err, "command")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("args = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProcessArgsDoNotAliasTheImage(t *testing.T) {
	img := imgspecv1.ImageConfig{Entrypoint: make([]string, 1, 4), Cmd: []string{"cmd"}}
	img.Entrypoint[0] = "/entry"
	got, err := processArgs(&runtimeapi.ContainerConfig{}, img)
	if err != nil {
		t.Fatal(err)
	}
	got[0] = "changed"
	if img.Entrypoint[0] != "/entry" || img.Entrypoint[:2][1] != "" {
		t.Errorf("the image's entrypoint changed: %q", img.Entrypoint[:2])
	}
}

func TestProcessEnv(t *testing.T) {
	kv := func(k, v string) *runtimeapi.KeyValue { return &runtimeapi.KeyValue{Key: k, Value: []byte(v)} }
	for _, tc := range []struct {
		name     string
		hostname string
		image    []string
		envs     []*runtimeapi.KeyValue
		want     []string
		field    string
	}{
		{"defaults", "", nil, nil, []string{defaultPath}, ""},
		{"hostname first", "pod", []string{"A=1"}, nil, []string{"HOSTNAME=pod", "A=1", defaultPath}, ""},
		{"config overrides image in place", "", []string{"A=1", "PATH=/bin", "B=2"}, []*runtimeapi.KeyValue{kv("A", "x"), kv("C", "3")},
			[]string{"A=x", "PATH=/bin", "B=2", "C=3"}, ""},
		{"config sets PATH", "", nil, []*runtimeapi.KeyValue{kv("PATH", "/opt")}, []string{"PATH=/opt"}, ""},
		{"image overrides HOSTNAME", "pod", []string{"HOSTNAME=img"}, nil, []string{"HOSTNAME=img", defaultPath}, ""},
		{"value with =", "", nil, []*runtimeapi.KeyValue{kv("A", "b=c")}, []string{"A=b=c", defaultPath}, ""},
		{"empty value", "", nil, []*runtimeapi.KeyValue{kv("A", "")}, []string{"A=", defaultPath}, ""},
		{"empty key", "", nil, []*runtimeapi.KeyValue{kv("A", "1"), kv("", "x")}, nil, "envs[1].key"},
		{"key with =", "", nil, []*runtimeapi.KeyValue{kv("A=B", "x")}, nil, "envs[0].key"},
		{"NUL in value", "", nil, []*runtimeapi.KeyValue{kv("A", "x\x00y")}, nil, "envs[0].value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := processEnv(&runtimeapi.ContainerConfig{Envs: tc.envs}, imgspecv1.ImageConfig{Env: tc.image}, tc.hostname)
			checkFieldError(t, err, tc.field)
			if !slices.Equal(got, tc.want) {
				t.Errorf("env = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProcessCwd(t *testing.T) {
	for _, tc := range []struct {
		name, dir, image, want, field string
	}{
		{"default", "", "", "/", ""},
		{"image", "", "/srv", "/srv", ""},
		{"relative image dir", "", "srv", "/srv", ""},
		{"config wins", "/work/", "/srv", "/work", ""},
		{"relative config dir", "work", "", "", "working_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := processCwd(&runtimeapi.ContainerConfig{WorkingDir: tc.dir}, imgspecv1.ImageConfig{WorkingDir: tc.image})
			checkFieldError(t, err, tc.field)
			if got != tc.want {
				t.Errorf("cwd = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBuildProcess(t *testing.T) {
	hostnameFile := filepath.Join(t.TempDir(), "hostname")
	if err := os.WriteFile(hostnameFile, []byte("web-0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(c *Container)
		check func(t *testing.T, p *specs.Process)
		field string
	}{
		{"terminal, HOSTNAME and HOME", func(c *Container) {
			c.Config.Tty = true
			c.Pod.Hostname = hostnameFile
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 1000}
		}, func(t *testing.T, p *specs.Process) {
			if !p.Terminal {
				t.Error("no terminal")
			}
			if !slices.Contains(p.Env, "HOSTNAME=web-0") || !slices.Contains(p.Env, "HOME=/home/alice") {
				t.Errorf("env %q lacks HOSTNAME=web-0 or HOME=/home/alice", p.Env)
			}
		}, ""},
		{"HOME is kept", func(c *Container) {
			c.Config.Envs = []*runtimeapi.KeyValue{{Key: "HOME", Value: []byte("/data")}}
		}, func(t *testing.T, p *specs.Process) {
			if !slices.Contains(p.Env, "HOME=/data") || slices.Contains(p.Env, "HOME=/root") {
				t.Errorf("env %q, want HOME=/data only", p.Env)
			}
		}, ""},
		{"HOME of a user without passwd entry", func(c *Container) {
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 4242}
		}, func(t *testing.T, p *specs.Process) {
			if !slices.Contains(p.Env, "HOME=/") {
				t.Errorf("env %q lacks HOME=/", p.Env)
			}
		}, ""},
		{"host network HOSTNAME", func(c *Container) { c.Pod.UTSNS = "" }, func(t *testing.T, p *specs.Process) {
			name, _ := os.Hostname()
			if !slices.Contains(p.Env, "HOSTNAME="+name) {
				t.Errorf("env %q lacks HOSTNAME=%s", p.Env, name)
			}
		}, ""},
		{"oom score", func(c *Container) {
			c.Config.Linux.Resources = &runtimeapi.LinuxContainerResources{OomScoreAdj: 999}
		}, func(t *testing.T, p *specs.Process) {
			if p.OOMScoreAdj == nil || *p.OOMScoreAdj != 999 {
				t.Errorf("oomScoreAdj = %v, want 999", p.OOMScoreAdj)
			}
		}, ""},
		{"oom score out of range", func(c *Container) {
			c.Config.Linux.Resources = &runtimeapi.LinuxContainerResources{OomScoreAdj: 1001}
		}, nil, "linux.resources.oom_score_adj"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := buildProcess(testContainer(t, tc.edit))
			checkFieldError(t, err, tc.field)
			if err == nil {
				tc.check(t, p)
			}
		})
	}
}

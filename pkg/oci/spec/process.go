package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// defaultPath is the PATH of a container whose image and config set none,
// the one containerd and Docker use.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildProcess returns the container's process: arguments, environment,
// working directory, user, terminal and OOM score.
func buildProcess(c *Container) (*specs.Process, error) {
	var img imgspecv1.ImageConfig
	if c.Image != nil {
		img = *c.Image
	}
	args, err := processArgs(c.Config, img)
	if err != nil {
		return nil, err
	}
	hostname, err := podHostname(c.Pod)
	if err != nil {
		return nil, err
	}
	env, err := processEnv(c.Config, img, hostname)
	if err != nil {
		return nil, err
	}
	cwd, err := processCwd(c.Config, img)
	if err != nil {
		return nil, err
	}
	user, home, err := resolveUser(c.Rootfs, c.Config.GetLinux().GetSecurityContext(), img.User)
	if err != nil {
		return nil, err
	}
	// runc sets HOME from the passwd entry when the environment has none;
	// crisp's executor leaves the environment alone, so it is done here.
	if lookupEnv(env, "HOME") < 0 {
		env = append(env, "HOME="+home)
	}
	p := &specs.Process{
		Terminal: c.Config.GetTty(),
		User:     user,
		Args:     args,
		Env:      env,
		Cwd:      cwd,
	}
	if res := c.Config.GetLinux().GetResources(); res != nil {
		adj := res.GetOomScoreAdj()
		if adj < -1000 || adj > 1000 {
			return nil, errdefs.InvalidField("linux.resources.oom_score_adj", fmt.Sprintf("%d is outside [-1000, 1000]", adj))
		}
		p.OOMScoreAdj = ptrTo(int(adj))
	}
	return p, nil
}

// processArgs applies the CRI's rule, Docker's: command replaces the
// image's entrypoint and args its cmd; without a command the image's
// entrypoint runs with args, or with the image's cmd when args are empty.
func processArgs(cfg *runtimeapi.ContainerConfig, img imgspecv1.ImageConfig) ([]string, error) {
	command, args := cfg.GetCommand(), cfg.GetArgs()
	if len(command) == 0 {
		if len(args) == 0 {
			args = img.Cmd
		}
		// An entrypoint of [""] is how an image resets its base's.
		if !(len(img.Entrypoint) == 1 && img.Entrypoint[0] == "") {
			command = img.Entrypoint
		}
	}
	if len(command)+len(args) == 0 {
		return nil, errdefs.InvalidField("command", "no command or args given and the image has no entrypoint or cmd")
	}
	return append(append([]string{}, command...), args...), nil
}

// processEnv merges, in containerd's order, HOSTNAME, the image's
// environment and the config's envs: a later value replaces an earlier one
// of the same key in place. PATH gets a default when none sets it.
func processEnv(cfg *runtimeapi.ContainerConfig, img imgspecv1.ImageConfig, hostname string) ([]string, error) {
	var env []string
	set := func(kv string) {
		key, _, _ := strings.Cut(kv, "=")
		if i := lookupEnv(env, key); i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	if hostname != "" {
		set("HOSTNAME=" + hostname)
	}
	for _, kv := range img.Env {
		set(kv)
	}
	for i, kv := range cfg.GetEnvs() {
		key := kv.GetKey()
		if key == "" || strings.ContainsAny(key, "=\x00") {
			return nil, errdefs.InvalidField(fmt.Sprintf("envs[%d].key", i), fmt.Sprintf("%q is not a variable name", key))
		}
		value := string(kv.GetValue())
		if strings.ContainsRune(value, 0) {
			return nil, errdefs.InvalidField(fmt.Sprintf("envs[%d].value", i), "contains a NUL byte")
		}
		set(key + "=" + value)
	}
	if lookupEnv(env, "PATH") < 0 {
		env = append(env, defaultPath)
	}
	return env, nil
}

// lookupEnv returns the index of key's entry in env, or -1.
func lookupEnv(env []string, key string) int {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return i
		}
	}
	return -1
}

// podHostname is the HOSTNAME of the pod's containers: the content of the
// pod's hostname file, or the node's name for a pod without one on the
// host's UTS namespace.
func podHostname(pod Pod) (string, error) {
	if pod.Hostname == "" {
		if pod.UTSNS != "" {
			return "", nil
		}
		name, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("node hostname: %w", err)
		}
		return name, nil
	}
	data, err := os.ReadFile(pod.Hostname)
	if err != nil {
		return "", fmt.Errorf("pod hostname: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// processCwd is working_dir, else the image's WorkingDir, else "/".
func processCwd(cfg *runtimeapi.ContainerConfig, img imgspecv1.ImageConfig) (string, error) {
	if dir := cfg.GetWorkingDir(); dir != "" {
		if !filepath.IsAbs(dir) {
			return "", errdefs.InvalidField("working_dir", fmt.Sprintf("%q is not an absolute path", dir))
		}
		return filepath.Clean(dir), nil
	}
	if dir := img.WorkingDir; dir != "" {
		// Docker's WORKDIR always records an absolute path; other
		// builders may not, and a relative one means the same from "/".
		return filepath.Join("/", dir), nil
	}
	return "/", nil
}

func ptrTo[T any](v T) *T { return &v }

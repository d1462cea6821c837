// Command podbench measures pod sandbox churn on any CRI v1 runtime: it runs
// RunPodSandbox, StopPodSandbox and RemovePodSandbox in sequence for N pods,
// one pod at a time, and prints the median, p90, min and max wall time of an
// iteration. The same client drives every runtime hack/bench-pods.sh and
// hack/bench.sh compare, so differences come from the runtimes alone.
//
// With -image, podbench first pulls that image (timed) and each
// pod also gets one container running -command from it: CreateContainer and
// StartContainer after RunPodSandbox, then StopContainer (with
// -stop-timeout) and RemoveContainer before the pod is stopped. Between the
// calls, outside the timed window, ContainerStatus must report the container
// running after the start and exited after the stop. With -hold N it then
// runs N such pods at once; with -mem-pid it measures the runtime's resident
// memory after the warm-up (idle) and with the held pods (loaded).
//
// "podbench compare" reads the JSON results of two runtimes and prints them
// side by side (compare.go).
//
// Each pod asks for what kubelet asks for by default: its own network and IPC
// namespaces, a PID namespace per container, cluster DNS settings, no port
// mappings. After RunPodSandbox the pod's status is checked (ready, with an
// IP address from the pod network) outside the timed window, so a runtime
// cannot win by skipping the network. Any RPC error ends the run with a
// non-zero exit status.
//
//	go run ./test/bench/podbench --endpoint unix:///run/crisp/crisp.sock -n 50
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/test/bench/internal/procmem"
)

// options are the command line flags.
type options struct {
	endpoint       string
	label          string
	iterations     int
	warmup         int
	timeout        time.Duration
	readyTimeout   time.Duration
	cgroupRoot     string
	runtimeHandler string
	sharePID       bool
	requireIP      bool
	jsonFile       string

	// Containers (with image set).
	image       string
	command     []string
	logDir      string
	stopTimeout int64
	hold        int
	settle      time.Duration
	memory      procmem.Selector

	// The scale run (with scale.pods set).
	scale scaleOptions
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "compare" {
		if err := compareMain(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "podbench compare:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var command string
	flag.StringVar(&o.endpoint, "endpoint", "unix:///run/crisp/crisp.sock", "CRI endpoint to dial (unix:///path)")
	flag.StringVar(&o.label, "label", "", "name printed with the results (default: the runtime's name from Version)")
	flag.IntVar(&o.iterations, "n", 50, "measured iterations")
	flag.IntVar(&o.warmup, "warmup", 1, "iterations run first and not measured")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "deadline of each RPC")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 30*time.Second, "how long to wait for the runtime to report RuntimeReady and NetworkReady")
	flag.StringVar(&o.cgroupRoot, "cgroup-root", "", "give each pod the cgroup parent ROOT/pod<uid>, as kubelet's cgroupfs driver does (empty: no parent, the runtime chooses)")
	flag.StringVar(&o.runtimeHandler, "runtime-handler", "", "runtime handler of every pod")
	flag.BoolVar(&o.sharePID, "share-pid", false, "give pods a shared PID namespace (shareProcessNamespace: true)")
	flag.BoolVar(&o.requireIP, "require-ip", true, "fail unless every ready pod reports an IP address")
	flag.StringVar(&o.jsonFile, "json", "", "also write the result as one JSON object to this file (\"-\": stdout, instead of the line of text)")
	flag.StringVar(&o.image, "image", "", "pull this image, then give each pod one container from it")
	flag.StringVar(&command, "command", "/bin/sleep 3600", "the container's command, split at spaces")
	flag.StringVar(&o.logDir, "log-dir", "", "make each pod's log directory below DIR, as kubelet does below /var/log/pods (empty: containers log nowhere)")
	flag.Int64Var(&o.stopTimeout, "stop-timeout", 0, "StopContainer timeout in seconds (0: the runtime kills at once)")
	flag.IntVar(&o.hold, "hold", 0, "with -image: after the measured iterations, run this many pods with a container at once (and measure memory with -mem-pid)")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "with -mem-pid: wait this long before each memory measurement")
	flag.IntVar(&o.memory.PID, "mem-pid", 0, "measure the resident memory of the daemon with this pid (0: no memory measurement)")
	flag.StringVar(&o.memory.Exe, "mem-exe", "", "with -mem-pid: also count every process running this executable (absolute path)")
	flag.StringVar(&o.memory.Arg, "mem-arg", "", "with -mem-pid: also count every process with this exact argument")
	flag.IntVar(&o.scale.pods, "scale-pods", 0, "with -image and -mem-pid, instead of the timed iterations: run this many pods at once and poll the runtime as kubelet does (scale.go)")
	flag.IntVar(&o.scale.containers, "scale-containers", 2, "with -scale-pods: containers per pod")
	flag.IntVar(&o.scale.workers, "scale-workers", 4, "with -scale-pods: pods brought up and torn down at once")
	flag.DurationVar(&o.scale.window, "scale-window", time.Minute, "with -scale-pods: how long to poll the full node")
	flag.DurationVar(&o.scale.interval, "scale-interval", time.Second, "with -scale-pods: time between polling rounds")
	flag.Parse()
	o.command = strings.Fields(command)
	o.memory.ProcRoot = "/proc"
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "podbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.scale.pods > 0 {
		if o.image == "" || !o.memory.Enabled() {
			return fmt.Errorf("-scale-pods needs -image and -mem-pid")
		}
		if o.scale.containers < 1 || o.scale.workers < 1 || o.scale.window <= 0 || o.scale.interval <= 0 {
			return fmt.Errorf("-scale-containers and -scale-workers must be at least 1, -scale-window and -scale-interval positive")
		}
		o.iterations, o.hold = 0, 0
	} else if o.iterations < 1 {
		return fmt.Errorf("-n must be at least 1, got %d", o.iterations)
	}
	if o.warmup < 0 {
		return fmt.Errorf("-warmup must not be negative, got %d", o.warmup)
	}
	if o.image == "" && (o.hold > 0 || o.logDir != "") {
		return fmt.Errorf("-hold and -log-dir need -image")
	}
	if o.image != "" && len(o.command) == 0 {
		return fmt.Errorf("-command must not be empty")
	}
	if o.hold < 0 || o.stopTimeout < 0 {
		return fmt.Errorf("-hold and -stop-timeout must not be negative")
	}
	if !strings.HasPrefix(o.endpoint, "unix://") {
		return fmt.Errorf("-endpoint %q: only unix:// endpoints are supported", o.endpoint)
	}
	conn, err := grpc.NewClient(o.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", o.endpoint, err)
	}
	defer conn.Close()
	b := &bench{opts: o, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn)}

	var v *runtimeapi.VersionResponse
	if _, err := b.call(ctx, func(c context.Context) error {
		var err error
		v, err = b.rt.Version(c, &runtimeapi.VersionRequest{})
		return err
	}); err != nil {
		return fmt.Errorf("Version on %s: %w", o.endpoint, err)
	}
	if o.label == "" {
		o.label = v.RuntimeName
	}
	if err := b.waitReady(ctx); err != nil {
		return err
	}
	if err := b.checkEmpty(ctx); err != nil {
		return err
	}
	run, err := newRunID()
	if err != nil {
		return err
	}

	var pull time.Duration
	if o.image != "" {
		if pull, err = b.pull(ctx); err != nil {
			return err
		}
	}
	for i := 0; i < o.warmup; i++ {
		if _, err := b.iteration(ctx, fmt.Sprintf("podbench-%s-warmup-%d", run, i)); err != nil {
			return fmt.Errorf("warm-up iteration %d: %w", i, err)
		}
	}
	if o.scale.pods > 0 {
		r := result{Label: o.label, Runtime: v.RuntimeName, RuntimeVersion: v.RuntimeVersion, Image: o.image, PullMS: ms(pull)}
		s, err := b.scale(ctx, fmt.Sprintf("podbench-%s-scale", run), os.Stderr)
		if err != nil {
			return fmt.Errorf("scale run: %w", err)
		}
		if err := b.checkEmpty(ctx); err != nil {
			return fmt.Errorf("after the scale run: %w", err)
		}
		r.Scale = &s
		return writeResult(o, r, out)
	}
	memory := map[string]memoryPoint{}
	if o.memory.Enabled() {
		if memory[memoryIdle], err = b.measureMemory(ctx, 0); err != nil {
			return err
		}
	}
	samples := make([]sample, 0, o.iterations)
	for i := 0; i < o.iterations; i++ {
		s, err := b.iteration(ctx, fmt.Sprintf("podbench-%s-%d", run, i))
		if err != nil {
			return fmt.Errorf("iteration %d: %w", i, err)
		}
		samples = append(samples, s)
	}
	if o.hold > 0 {
		if err := b.holdPods(ctx, fmt.Sprintf("podbench-%s-hold", run), memory); err != nil {
			return err
		}
	}
	if err := b.checkEmpty(ctx); err != nil {
		return fmt.Errorf("after the run: %w", err)
	}

	r := summarize(o.label, v.RuntimeName, v.RuntimeVersion, samples, o.image != "")
	if o.image != "" {
		r.Image, r.PullMS = o.image, ms(pull)
	}
	if len(memory) > 0 {
		r.Memory = memory
	}
	return writeResult(o, r, out)
}

// writeResult prints r as a line of text or as JSON (-json -), and writes
// it as JSON to the -json file.
func writeResult(o options, r result, out io.Writer) error {
	if o.jsonFile == "-" {
		return json.NewEncoder(out).Encode(r)
	}
	if o.jsonFile != "" {
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonFile, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	_, err := fmt.Fprintln(out, r.String())
	return err
}

// bench is one benchmark run against one runtime.
type bench struct {
	opts options
	rt   runtimeapi.RuntimeServiceClient
	img  runtimeapi.ImageServiceClient
	// imageRef is the image's ID as PullImage returned it, which kubelet
	// passes to CreateContainer.
	imageRef string
}

// call runs one RPC under the per-RPC deadline and returns how long it took.
func (b *bench) call(ctx context.Context, rpc func(context.Context) error) (time.Duration, error) {
	c, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	start := time.Now()
	err := rpc(c)
	return time.Since(start), err
}

// iteration runs, checks, stops and removes one pod named name, with
// -image after making, starting, checking, stopping and removing its
// container. On an error it still tries to remove the pod, so a failed run
// leaves nothing behind.
func (b *bench) iteration(ctx context.Context, name string) (s sample, err error) {
	var p *pod
	p, s.run, err = b.runPod(ctx, name)
	if err != nil {
		return s, err
	}
	defer func() {
		if err != nil {
			b.cleanup(ctx, p)
		}
	}()
	if b.opts.image != "" {
		var ctr string
		ctr, s.create, s.start, err = b.startContainer(ctx, p, containerName)
		if err != nil {
			return s, err
		}
		if s.stopContainer, s.removeContainer, err = b.stopContainer(ctx, ctr); err != nil {
			return s, err
		}
	}
	s.stop, s.remove, err = b.stopPod(ctx, p)
	return s, err
}

// pod is a pod sandbox podbench made.
type pod struct {
	id     string
	config *runtimeapi.PodSandboxConfig
}

// runPod makes the pod's log directory if it has one (untimed, as kubelet
// does), runs the pod and checks that it is ready. It returns the
// RunPodSandbox wall time. A pod that runs but fails the check is removed.
func (b *bench) runPod(ctx context.Context, name string) (*pod, time.Duration, error) {
	cfg, err := b.podConfig(name)
	if err != nil {
		return nil, 0, err
	}
	if cfg.LogDirectory != "" {
		if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
			return nil, 0, fmt.Errorf("pod log directory: %w", err)
		}
	}
	p := &pod{config: cfg}
	d, err := b.call(ctx, func(c context.Context) error {
		resp, err := b.rt.RunPodSandbox(c, &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: b.opts.runtimeHandler})
		if err != nil {
			return err
		}
		p.id = resp.PodSandboxId
		return nil
	})
	if err != nil {
		b.removeLogs(p)
		return nil, d, fmt.Errorf("RunPodSandbox %s: %w", name, err)
	}
	if p.id == "" {
		b.removeLogs(p)
		return nil, d, fmt.Errorf("RunPodSandbox %s returned an empty pod sandbox id", name)
	}
	if err := b.checkReady(ctx, p.id); err != nil {
		b.cleanup(ctx, p)
		return nil, d, err
	}
	return p, d, nil
}

// stopPod stops and removes a pod, then its log directory, and returns the
// wall times of StopPodSandbox and RemovePodSandbox.
func (b *bench) stopPod(ctx context.Context, p *pod) (stop, remove time.Duration, err error) {
	stop, err = b.call(ctx, func(c context.Context) error {
		_, err := b.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
		return err
	})
	if err != nil {
		return stop, 0, fmt.Errorf("StopPodSandbox %s: %w", p.id, err)
	}
	remove, err = b.call(ctx, func(c context.Context) error {
		_, err := b.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
		return err
	})
	if err != nil {
		return stop, remove, fmt.Errorf("RemovePodSandbox %s: %w", p.id, err)
	}
	return stop, remove, b.removeLogs(p)
}

// removeLogs removes the pod's log directory, as kubelet does once the pod
// is gone.
func (b *bench) removeLogs(p *pod) error {
	if p.config.LogDirectory == "" {
		return nil
	}
	if err := os.RemoveAll(p.config.LogDirectory); err != nil {
		return fmt.Errorf("remove pod log directory: %w", err)
	}
	return nil
}

// checkReady fails unless the pod is ready and, with -require-ip, has an
// address from the pod network. It is not part of the measured time.
func (b *bench) checkReady(ctx context.Context, id string) error {
	var st *runtimeapi.PodSandboxStatusResponse
	_, err := b.call(ctx, func(c context.Context) error {
		var err error
		st, err = b.rt.PodSandboxStatus(c, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
		return err
	})
	if err != nil {
		return fmt.Errorf("PodSandboxStatus %s: %w", id, err)
	}
	if got := st.GetStatus().GetState(); got != runtimeapi.PodSandboxState_SANDBOX_READY {
		return fmt.Errorf("pod sandbox %s is %s after RunPodSandbox, want SANDBOX_READY", id, got)
	}
	if b.opts.requireIP && st.GetStatus().GetNetwork().GetIp() == "" {
		return fmt.Errorf("pod sandbox %s has no IP address: is the CNI network configured?", id)
	}
	return nil
}

// cleanup stops and removes a pod, and with it its containers, after a
// failure, best effort.
func (b *bench) cleanup(ctx context.Context, p *pod) {
	ctx = context.WithoutCancel(ctx)
	id := p.id
	defer b.removeLogs(p)
	if _, err := b.call(ctx, func(c context.Context) error {
		_, err := b.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		return err
	}); err != nil {
		fmt.Fprintf(os.Stderr, "podbench: cleanup: StopPodSandbox %s: %v\n", id, err)
	}
	if _, err := b.call(ctx, func(c context.Context) error {
		_, err := b.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
		return err
	}); err != nil {
		fmt.Fprintf(os.Stderr, "podbench: cleanup: RemovePodSandbox %s: %v\n", id, err)
	}
}

// waitReady waits until the runtime reports RuntimeReady and NetworkReady:
// a runtime may load its CNI configuration after it starts serving.
func (b *bench) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(b.opts.readyTimeout)
	for {
		var st *runtimeapi.StatusResponse
		_, err := b.call(ctx, func(c context.Context) error {
			var err error
			st, err = b.rt.Status(c, &runtimeapi.StatusRequest{})
			return err
		})
		if err != nil {
			return fmt.Errorf("Status: %w", err)
		}
		var notReady []string
		for _, want := range []string{runtimeapi.RuntimeReady, runtimeapi.NetworkReady} {
			ready := false
			for _, c := range st.GetStatus().GetConditions() {
				if c.Type == want && c.Status {
					ready = true
				}
			}
			if !ready {
				notReady = append(notReady, want)
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("runtime not ready after %s: %s false in %v", b.opts.readyTimeout, strings.Join(notReady, ", "), st.GetStatus().GetConditions())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkEmpty fails if the runtime lists any pod sandbox (or, with -image,
// any container), so that leftovers
// from an earlier run cannot skew the numbers and a run that leaks pods is
// caught.
func (b *bench) checkEmpty(ctx context.Context) error {
	var list *runtimeapi.ListPodSandboxResponse
	_, err := b.call(ctx, func(c context.Context) error {
		var err error
		list, err = b.rt.ListPodSandbox(c, &runtimeapi.ListPodSandboxRequest{})
		return err
	})
	if err != nil {
		return fmt.Errorf("ListPodSandbox: %w", err)
	}
	if n := len(list.GetItems()); n > 0 {
		ids := make([]string, 0, n)
		for _, p := range list.Items {
			ids = append(ids, p.Id)
		}
		return fmt.Errorf("runtime lists %d pod sandboxes, want none: %s", n, strings.Join(ids, ", "))
	}
	if b.opts.image == "" {
		return nil
	}
	var ctrs *runtimeapi.ListContainersResponse
	_, err = b.call(ctx, func(c context.Context) error {
		var err error
		ctrs, err = b.rt.ListContainers(c, &runtimeapi.ListContainersRequest{})
		return err
	})
	if err != nil {
		return fmt.Errorf("ListContainers: %w", err)
	}
	if n := len(ctrs.GetContainers()); n > 0 {
		ids := make([]string, 0, n)
		for _, c := range ctrs.Containers {
			ids = append(ids, c.Id)
		}
		return fmt.Errorf("runtime lists %d containers, want none: %s", n, strings.Join(ids, ", "))
	}
	return nil
}

// podConfig is the PodSandboxConfig kubelet sends for a plain pod.
func (b *bench) podConfig(name string) (*runtimeapi.PodSandboxConfig, error) {
	uid, err := newUID()
	if err != nil {
		return nil, err
	}
	const namespace = "podbench"
	var cgroupParent string
	if b.opts.cgroupRoot != "" {
		cgroupParent = path.Join(b.opts.cgroupRoot, "pod"+uid)
	}
	pid := runtimeapi.NamespaceMode_CONTAINER
	if b.opts.sharePID {
		pid = runtimeapi.NamespaceMode_POD
	}
	var logDir string
	if b.opts.logDir != "" {
		logDir = path.Join(b.opts.logDir, namespace+"_"+name+"_"+uid)
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: namespace},
		Hostname:     name,
		LogDirectory: logDir,
		DnsConfig: &runtimeapi.DNSConfig{
			Servers:  []string{"10.96.0.10"},
			Searches: []string{namespace + ".svc.cluster.local", "svc.cluster.local", "cluster.local"},
			Options:  []string{"ndots:5"},
		},
		Labels: map[string]string{
			"io.kubernetes.pod.name":      name,
			"io.kubernetes.pod.namespace": namespace,
			"io.kubernetes.pod.uid":       uid,
		},
		Annotations: map[string]string{"kubernetes.io/config.source": "api"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: runtimeapi.NamespaceMode_POD,
					Ipc:     runtimeapi.NamespaceMode_POD,
					Pid:     pid,
				},
			},
		},
	}, nil
}

// newRunID names this run, so pod names never collide with another run's.
func newRunID() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make run id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// newUID returns a random RFC 4122 version 4 UUID, the form of pod UIDs.
func newUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make pod uid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

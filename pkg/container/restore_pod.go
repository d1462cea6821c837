package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// maxPodOptions bounds a pod checkpoint's pod.options.
const maxPodOptions = 1 << 20

// PodCheckpoint is a pod checkpoint CheckpointPod wrote, being restored.
// It is only read: a restore changes nothing in it.
type PodCheckpoint struct {
	dir string
	// containers maps each container's name to its directory in dir.
	containers map[string]string
}

// OpenPodCheckpoint reads the pod checkpoint in dir (field names it in
// errors): its pod.options, of a version this crisp writes, made on this
// architecture, naming each container's directory inside dir.
func OpenPodCheckpoint(field, dir string) (*PodCheckpoint, error) {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("%q is not a clean absolute path", dir))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, errdefs.InvalidField(field, err.Error())
	}
	defer root.Close()
	var opts metadata.CheckpointedPodOptions
	if err := readCheckpointJSON(root, metadata.PodOptionsFile, maxPodOptions, &opts); err != nil {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("not a pod checkpoint: %v", err))
	}
	switch arch := opts.Annotations[metadata.CheckpointAnnotationHostArch]; {
	case opts.Version != podCheckpointVersion:
		return nil, errdefs.InvalidField(field, fmt.Sprintf("pod checkpoint version %d; this crisp restores version %d", opts.Version, podCheckpointVersion))
	case len(opts.Containers) == 0:
		return nil, errdefs.InvalidField(field, "the pod checkpoint has no containers")
	case arch != "" && arch != runtime.GOARCH:
		return nil, errdefs.InvalidField(field, fmt.Sprintf("the checkpoint was taken on %s; this node is %s", arch, runtime.GOARCH))
	}
	for name, sub := range opts.Containers {
		if name == "" || !filepath.IsLocal(sub) || filepath.Base(sub) != sub {
			return nil, errdefs.InvalidField(field, fmt.Sprintf("container %q has directory %q, not one inside the checkpoint", name, sub))
		}
	}
	return &PodCheckpoint{dir: dir, containers: opts.Containers}, nil
}

// Names are the names of the checkpoint's containers, sorted.
func (p *PodCheckpoint) Names() []string {
	names := make([]string, 0, len(p.containers))
	for name := range p.containers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// RestorePodContainer creates container cfg in pod podID from its
// checkpoint in p, the one of the same name, as Create does with a
// checkpoint archive, except that cfg must describe the checkpointed
// container: its image and process; what differs fails the restore. The
// container is created, its processes restored and stopped until Start.
func (m *Manager) RestorePodContainer(ctx context.Context, podID string, cfg *runtimeapi.ContainerConfig, p *PodCheckpoint) (*Container, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	sub, ok := p.containers[cfg.Metadata.Name]
	if !ok {
		return nil, errdefs.InvalidField("metadata.name", fmt.Sprintf("the pod checkpoint has no container %s", cfg.Metadata.Name))
	}
	// Lstat: the container's directory is read by path, which must not
	// leave the checkpoint.
	dir := filepath.Join(p.dir, sub)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil, errdefs.InvalidField("checkpoint_path", fmt.Sprintf("container %s's checkpoint %s is not a directory", cfg.Metadata.Name, sub))
	}
	src, err := readCheckpoint("checkpoint_path", dir)
	if err != nil {
		return nil, err
	}
	src.from, src.strict = p.dir, true
	return m.createFrom(ctx, podID, cfg, src)
}

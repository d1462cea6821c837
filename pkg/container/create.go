package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/ids"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/oci/spec"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// Create creates a container in pod podID from cfg: its writable layer, its
// bundle and its OCI container, whose process waits for Start. On failure
// nothing of it remains. The pod is held throughout: stopping or removing
// it waits for the container to be made (and then stops or removes it),
// so a container is never made in a pod that is gone.
//
// A config.image.image that is an absolute path names a checkpoint archive
// (CheckpointContainer's), and an image annotated as built from one holds
// such an archive's files: the container is made on the image the
// checkpoint names, with the checkpoint's changes to its root file system,
// and its processes are restored, stopped, in place of a new init; Start
// resumes them.
func (m *Manager) Create(ctx context.Context, podID string, cfg *runtimeapi.ContainerConfig) (*Container, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	var src *checkpointSource
	if isCheckpointArchive(cfg.Image.Image) {
		var err error
		if src, err = m.openCheckpointArchive(ctx, "image.image", cfg.Image.Image); err != nil {
			return nil, err
		}
		defer src.Close()
	}
	return m.createFrom(ctx, podID, cfg, src)
}

// createFrom is Create, restoring src when it is not nil.
func (m *Manager) createFrom(ctx context.Context, podID string, cfg *runtimeapi.ContainerConfig, src *checkpointSource) (*Container, error) {
	pod, release, err := m.opts.Pods.Hold(podID)
	if err != nil {
		return nil, fmt.Errorf("pod_sandbox_id: %w", err)
	}
	defer release()
	if pod.State != sandbox.StateReady {
		return nil, fmt.Errorf("pod_sandbox_id: pod sandbox %s is %s, not ready: %w", pod.ID, pod.State, errdefs.ErrFailedPrecondition)
	}
	id, err := ids.New()
	if err != nil {
		return nil, err
	}
	md := Metadata{Name: cfg.Metadata.Name, Attempt: cfg.Metadata.Attempt}
	key := nameKey(md, pod)
	unlock, err := m.index.Reserve(id, key)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := m.step("image"); err != nil {
		m.index.Forget(id)
		return nil, err
	}
	img, imageName, err := m.containerImage(ctx, cfg, src)
	if err == nil && src == nil && isCheckpointImage(img) {
		// An image built from a checkpoint archive: restored as the
		// archive would be.
		if src, err = m.openCheckpointImage(ctx, cfg.Image.Image, img); err == nil {
			defer src.Close()
			img, imageName, err = m.containerImage(ctx, cfg, src)
		}
	}
	if err != nil {
		m.index.Forget(id)
		return nil, err
	}
	cgroupsPath, err := cgroups.ContainerCgroupsPath(m.opts.CgroupDriver, pod.Spec.CgroupParent, pod.ID, id)
	if err != nil {
		m.index.Forget(id)
		return nil, err
	}
	c := &Container{
		ID:          id,
		PodID:       pod.ID,
		Metadata:    md,
		Name:        key,
		Image:       imageName,
		ImageID:     img.ID,
		ImageRef:    imageRef(img),
		Labels:      maps.Clone(cfg.Labels),
		Annotations: maps.Clone(cfg.Annotations),
		LogPath:     logPath(pod, cfg),
		Mounts:      mountsFromCRI(cfg.Mounts),
		Resources:   resourcesFromCRI(cfg.GetLinux().GetResources()),
		State:       StateCreating,
		CreatedAt:   time.Now(),
		Bundle:      filepath.Join(m.bundles, id),
		CgroupsPath: cgroupsPath,
		BootID:      m.bootID,
	}
	// The record comes first: if the daemon dies from here on, the
	// restarted daemon finds it and undoes whatever was made. Undoing is
	// idempotent, so the record need not be rewritten after each step.
	// It is written while the writable layer is made: the layer is
	// claimed for the container before it exists, so a daemon that dies
	// before the record is durable leaves a claimed layer whose owner has
	// no record, which the next start removes (ReclaimContainerLayers).
	// create makes nothing else before the record is durable.
	record := m.startRecord(id, clone(c))
	// From before plugins are told until the container is published, a
	// plugin that connects waits: it finds the container in its
	// synchronisation.
	unblock := m.nriBlockSync()
	defer unblock()
	told := false
	err = m.create(ctx, c, pod, img, cfg, src, record, &told)
	if rerr := record.wait(); err == nil && rerr != nil {
		// create fails before anything else once the layer is made, but
		// it may have failed on its own first.
		err = rerr
	}
	if err == nil {
		c.State = StateCreated
		// Until this succeeds the stored record still says creating.
		if err = m.records.Put(id, c); err != nil {
			err = fmt.Errorf("container %s: %w", id, err)
		}
	}
	if err != nil {
		c.State = StateCreating
		if told {
			// Plugins that adjusted it release what they set aside.
			undoCtx := context.WithoutCancel(ctx)
			m.nriNotify(undoCtx, "StopContainer", c, NRI.StopContainer)
			m.nriNotify(undoCtx, "RemoveContainer", c, NRI.RemoveContainer)
		}
		m.undo(context.WithoutCancel(ctx), c, err)
		return nil, err
	}
	m.publish(c)
	m.watch(id)
	unblock()
	m.nriNotify(ctx, "PostCreateContainer", c, NRI.PostCreateContainer)
	klog.InfoS("Created container", "container", id, "pod", pod.ID, "name", md.Name, "image", c.ImageID)
	return clone(c), nil
}

// containerImage finds the image a container is made on, and the name it
// reports: config.image.image; for a checkpoint archive, the image the
// checkpoint names; for a pod checkpoint's container, config.image.image,
// which must be the image the checkpoint names.
func (m *Manager) containerImage(ctx context.Context, cfg *runtimeapi.ContainerConfig, src *checkpointSource) (*image.Image, string, error) {
	name := cfg.Image.Image
	if src != nil && !src.strict {
		name = src.imageName()
	}
	img, err := m.opts.Images.Get(ctx, name)
	switch {
	case err != nil && src != nil && !src.strict:
		return nil, "", fmt.Errorf("image.image: the checkpoint's image %s (%s) is not on this node: %w", name, src.config.RootfsImageRef, err)
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return nil, "", errdefs.InvalidField("image.image", err.Error())
	case err != nil:
		return nil, "", fmt.Errorf("image.image %q: %w", cfg.Image.Image, err)
	case src == nil || src.config.RootfsImageRef == "" || img.ID == src.config.RootfsImageRef:
		return img, name, nil
	case src.strict:
		return nil, "", errdefs.InvalidField("image.image", fmt.Sprintf("%s is image %s; the checkpointed container ran on %s", name, img.ID, src.config.RootfsImageRef))
	}
	// The name moved to another image since the checkpoint.
	if img, err = m.opts.Images.Get(ctx, src.config.RootfsImageRef); err != nil {
		return nil, "", fmt.Errorf("image.image: the checkpoint's image %s (%s) is not on this node: %w", name, src.config.RootfsImageRef, err)
	}
	return img, name, nil
}

// undo removes what a failed Create made of c, and its record. If that
// fails too, the container stays, unknown and without its name, for
// RemoveContainer or the next start to finish: kubelet's retry must not be
// refused for the name. The caller holds the container's operation lock.
func (m *Manager) undo(ctx context.Context, c *Container, cause error) {
	if err := m.teardown(ctx, c); err != nil {
		klog.ErrorS(err, "Cleaning up failed container", "container", c.ID)
		c.State, c.Reason, c.Message = StateUnknown, ReasonCannotRun, cause.Error()
		if perr := m.save(c); perr != nil {
			// The stored record says creating: the next start undoes it.
			klog.ErrorS(perr, "Saving container record", "container", c.ID)
			m.publish(c)
		}
		m.index.FreeName(c.ID)
		return
	}
	if err := m.records.Delete(c.ID); err != nil {
		// Nothing of the container is left; the next start finds its
		// record creating and undoes nothing.
		klog.ErrorS(err, "Deleting container record", "container", c.ID)
	}
	m.forget(c.ID)
}

// validate checks what Create needs before anything is made.
func validate(cfg *runtimeapi.ContainerConfig) error {
	switch {
	case cfg == nil:
		return errdefs.InvalidField("config", "must be set")
	case cfg.GetMetadata().GetName() == "":
		return errdefs.InvalidField("metadata.name", "must not be empty")
	case cfg.GetImage().GetImage() == "":
		return errdefs.InvalidField("image.image", "must not be empty")
	}
	for i, mnt := range cfg.GetMounts() {
		// Volumes are recorded and torn down by their index.
		if mnt == nil {
			return errdefs.InvalidField(fmt.Sprintf("mounts[%d]", i), "must be set")
		}
	}
	return checkLogPath(cfg.GetLogPath())
}

// imageRef is what ContainerStatus reports as image_ref: a repo digest of
// the image when it has one, else its ID.
func imageRef(img *image.Image) string {
	if len(img.RepoDigests) > 0 {
		return img.RepoDigests[0]
	}
	return img.ID
}

// logPath is the container's log file, the pod's log directory joined with
// config.log_path; empty (no log) unless both are set.
func logPath(pod *sandbox.Sandbox, cfg *runtimeapi.ContainerConfig) string {
	if pod.Spec.LogDirectory == "" || cfg.LogPath == "" {
		return ""
	}
	return filepath.Join(pod.Spec.LogDirectory, cfg.LogPath)
}

// create makes the container's layer, bundle and OCI container, as c says.
// Its errors name the container.
//
// NRI plugins are told once the spec is built, and their adjustments are
// applied to it before anything reads it; told is set once they were.
func (m *Manager) create(ctx context.Context, c *Container, pod *sandbox.Sandbox, img *image.Image, cfg *runtimeapi.ContainerConfig, src *checkpointSource, record *recordWrite, told *bool) error {
	if err := m.step("layer"); err != nil {
		return err
	}
	if u := pod.Spec.UserNS; u != nil {
		// The pod's root must own the image's files: the layers are
		// idmapped through the pod's maps, never chowned.
		_, err := m.opts.Images.CreateIDMappedContainerLayer(ctx, c.ID, img.ID, imageIDMappings(u.UIDs), imageIDMappings(u.GIDs))
		if err != nil {
			return err
		}
	} else if _, err := m.opts.Images.CreateContainerLayer(ctx, c.ID, img.ID); err != nil {
		return err
	}
	if err := m.step("mount"); err != nil {
		return err
	}
	rootfs, err := m.opts.Images.Mount(ctx, c.ID)
	if err != nil {
		return err
	}
	// Nothing but the claimed layer is made before the record is durable.
	if err := m.step("record"); err != nil {
		return err
	}
	if err := record.wait(); err != nil {
		return err
	}
	if src != nil {
		if err := m.step("rootfs-changes"); err != nil {
			return err
		}
		if err := m.applyRootfsChanges(ctx, src, rootfs); err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
	}
	volumes, err := m.createImageVolumes(ctx, c)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	target, err := m.targetPIDNamespace(cfg)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	sc := &spec.Container{
		ID:               c.ID,
		Config:           cfg,
		Pod:              podSpec(pod),
		ImageRef:         c.ImageID,
		ImageName:        c.Image,
		Rootfs:           rootfs,
		CgroupsPath:      c.CgroupsPath,
		TargetPIDNS:      target,
		DefaultPidsLimit: m.opts.DefaultPidsLimit,
		// The kernel's, so it is asked each time: a probe is one
		// system call.
		RecursiveReadOnly: oci.RecursiveMountAttrsSupported(),
		ImageVolumes:      volumes,
	}
	if img.Config != nil {
		sc.Image = &img.Config.Config
	}
	if m.opts.AppArmor != nil {
		sc.AppArmor = m.opts.AppArmor
	}
	s, err := spec.Build(sc)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	devices, err := cdiDevices(cfg)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	if err := m.injectCDI(s, devices); err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	if m.opts.NRI != nil {
		if err := m.step("nri"); err != nil {
			return err
		}
		*told = true
		before := limitsOf(s)
		if err := m.opts.NRI.CreateContainer(ctx, pod, clone(c), s); err != nil {
			return fmt.Errorf("container %s: NRI CreateContainer: %w", c.ID, err)
		}
		if limitsOf(s) != before {
			// ContainerStatus reports the resources the container got.
			c.Resources = resourcesFromSpec(s, c.Resources)
		}
	}
	if s.Process.ApparmorProfile == apparmor.DefaultProfile {
		// Loaded on first use, and again if an admin unloaded it.
		if err := m.opts.AppArmor.LoadDefault(ctx); err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
	}
	if src != nil {
		if err := src.adopt(s); err != nil {
			return err
		}
	}
	sig, err := spec.StopSignal(sc)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	c.StopSignal = unix.SignalName(sig)
	c.User = userOf(s.Process)
	if err := m.step("bundle"); err != nil {
		return err
	}
	if err := writeBundle(c.Bundle, s); err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	var logDir *os.File
	if c.LogPath != "" {
		if c.LogPath, logDir, err = prepareLogPath(pod.Spec.LogDirectory, cfg.LogPath); err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
		defer logDir.Close()
	}
	opts := oci.CreateOptions{LogPath: c.LogPath, LogDir: logDir, OpenStdin: cfg.Stdin, StdinOnce: cfg.Stdin && cfg.StdinOnce}
	// The stdin and the terminal are held by the monitor that writes the
	// log; a container without a log path still gets one, writing its log
	// to /dev/null, so that it can be attached to.
	if (cfg.Stdin || cfg.Tty) && c.LogPath == "" {
		opts.LogPath = os.DevNull
	}
	if err := m.step("oci"); err != nil {
		return err
	}
	if src != nil {
		if err := m.restore(ctx, c, src, opts); err != nil {
			return err
		}
	} else if err := m.opts.Runtime.Create(ctx, c.ID, c.Bundle, opts); err != nil {
		return err
	}
	if err := m.step("state"); err != nil {
		return err
	}
	st, err := m.opts.Runtime.State(ctx, c.ID)
	if err != nil {
		return err
	}
	c.Pid = st.Pid
	return nil
}

// createImageVolumes makes and mounts c's image volumes, recording the ID
// of each one's image, and returns their sources by their index in
// config.mounts.
func (m *Manager) createImageVolumes(ctx context.Context, c *Container) (map[int]string, error) {
	var sources map[int]string
	for i := range c.Mounts {
		mnt := &c.Mounts[i]
		if !mnt.IsImageVolume() {
			continue
		}
		if err := m.step("volume"); err != nil {
			return nil, err
		}
		v, err := m.opts.Images.CreateImageVolume(ctx, c.ID, i, mnt.Image, mnt.ImageSubPath)
		if fe := (*errdefs.FieldError)(nil); errors.As(err, &fe) && fe.Field == "sub path" {
			return nil, errdefs.InvalidField(fmt.Sprintf("mounts[%d].image_sub_path", i), fe.Problem)
		}
		if err != nil {
			return nil, fmt.Errorf("mounts[%d].image %q: %w", i, mnt.Image, err)
		}
		mnt.ImageID = v.ImageID
		if sources == nil {
			sources = map[int]string{}
		}
		sources[i] = v.Source
	}
	return sources, nil
}

// targetPIDNamespace returns the PID namespace of the running container
// that namespace_options.target_id names, for a container that asks to
// share it; "" when it asks for none.
func (m *Manager) targetPIDNamespace(cfg *runtimeapi.ContainerConfig) (string, error) {
	const field = "linux.security_context.namespace_options.target_id"
	opts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if opts.GetPid() != runtimeapi.NamespaceMode_TARGET {
		return "", nil
	}
	target, err := m.Get(opts.GetTargetId())
	if errors.Is(err, errdefs.ErrNotFound) {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	if err != nil {
		return "", err
	}
	if target.State != StateRunning || target.Pid == 0 {
		return "", fmt.Errorf("%s: container %s is %s, not running: %w", field, target.ID, target.State, errdefs.ErrFailedPrecondition)
	}
	return fmt.Sprintf("/proc/%d/ns/pid", target.Pid), nil
}

// userOf is the identity the container's process runs as.
func userOf(p *specs.Process) *User {
	if p == nil {
		return nil
	}
	u := &User{UID: int64(p.User.UID), GID: int64(p.User.GID)}
	for _, g := range p.User.AdditionalGids {
		u.SupplementalGroups = append(u.SupplementalGroups, int64(g))
	}
	return u
}

// writeBundle writes the container's bundle: a directory with config.json.
// The root file system is the mounted layer spec.Root.Path names.
func writeBundle(dir string, s *specs.Spec) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return nil
}

// recordWrite is a container record being stored in the background.
type recordWrite struct {
	done chan struct{}
	err  error
}

// startRecord stores c as container id's record in the background.
func (m *Manager) startRecord(id string, c *Container) *recordWrite {
	w := &recordWrite{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if m.testHookRecord != nil {
			m.testHookRecord()
		}
		if err := m.records.Put(id, c); err != nil {
			w.err = fmt.Errorf("container %s: %w", id, err)
		}
	}()
	return w
}

// wait waits for the record to be stored and returns the error, if any;
// it may be called any number of times.
func (w *recordWrite) wait() error {
	<-w.done
	return w.err
}

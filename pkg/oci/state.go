package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// Status is a container's lifecycle state: the four of the OCI runtime spec
// plus "paused", as runc reports it.
type Status string

// Container statuses.
const (
	StatusCreating Status = "creating"
	StatusCreated  Status = "created"
	StatusRunning  Status = "running"
	StatusPaused   Status = "paused"
	StatusStopped  Status = "stopped"
)

// Files in a container's state directory.
const (
	stateFile = "state.json"
	fifoFile  = "exec.fifo"
	exitFile  = "exit"
)

// State is what State reports about a container; its JSON is runc's.
type State struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// ExitStatus is how the init ended, once the container is stopped and
	// its monitor recorded it.
	ExitStatus *ExitStatus `json:"exitStatus,omitempty"`
}

// OCI returns the state in the runtime spec's form, as hooks receive it.
func (s *State) OCI() *specs.State {
	status := s.Status
	if status == StatusPaused {
		status = StatusRunning
	}
	return &specs.State{Version: specs.Version, ID: s.ID, Status: specs.ContainerState(status), Pid: s.Pid, Bundle: s.Bundle, Annotations: s.Annotations}
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	// Code is the exit code, or 128 plus the signal number, as a shell
	// reports it.
	Code int `json:"code"`
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal `json:"signal,omitempty"`
}

func exitStatusOf(ws syscall.WaitStatus) *ExitStatus {
	if ws.Signaled() {
		return &ExitStatus{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return &ExitStatus{Code: ws.ExitStatus()}
}

// record is a container's persistent state, <root>/<id>/state.json.
type record struct {
	ID          string      `json:"id"`
	Bundle      string      `json:"bundle"`
	Rootfs      string      `json:"rootfs"`
	Created     time.Time   `json:"created"`
	Init        proc.Ref    `json:"init"`
	Monitor     proc.Ref    `json:"monitor"`
	CgroupMount string      `json:"cgroupMount"`
	CgroupsPath string      `json:"cgroupsPath"`
	LogPath     string      `json:"logPath,omitempty"`
	Config      *specs.Spec `json:"config"`

	// configJSON is Config as the bundle's config.json had it, while
	// Config is unchanged.
	configJSON json.RawMessage
}

// MarshalJSON writes Config from the bytes it was read from when it can:
// encoding a whole spec by reflection costs a fresh crisp process more than
// the rest of creating the container.
func (rec *record) MarshalJSON() ([]byte, error) {
	// plain has record's fields without this method; the outer Config
	// hides plain's.
	type plain record
	config := rec.configJSON
	if config == nil {
		var err error
		if config, err = json.Marshal(rec.Config); err != nil {
			return nil, err
		}
	}
	return json.Marshal(struct {
		*plain
		Config json.RawMessage `json:"config"`
	}{(*plain)(rec), config})
}

// save writes the record atomically; readers never see a partial file.
func (rec *record) save(dir string) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// load reads a container's record. A directory without state.json belongs
// to a container still being created: load returns a nil record then.
func (r *Runtime) load(id string) (*record, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	dir := r.dir(id)
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: read state: %w", id, err)
	}
	rec := &record{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("container %s: decode state: %w", id, err)
	}
	return rec, nil
}

// loadCreated is load for operations that need a fully created container.
func (r *Runtime) loadCreated(id string) (*record, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("container %s is still being created: %w", id, errdefs.ErrFailedPrecondition)
	}
	return rec, nil
}

// status computes a container's status from its processes and files.
func (r *Runtime) status(rec *record) Status {
	if !rec.Init.Alive() {
		return StatusStopped
	}
	if _, err := os.Lstat(filepath.Join(r.dir(rec.ID), fifoFile)); err == nil {
		return StatusCreated
	}
	if cg, err := r.openCgroup(rec.CgroupMount, rec.CgroupsPath); err == nil {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			return StatusPaused
		}
	}
	return StatusRunning
}

// exitStatus returns the status the monitor recorded, or nil.
func (r *Runtime) exitStatus(id string) *ExitStatus {
	data, err := os.ReadFile(filepath.Join(r.dir(id), exitFile))
	if err != nil {
		return nil
	}
	ws, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return nil
	}
	return exitStatusOf(syscall.WaitStatus(ws))
}

// State reports a container's state.
func (r *Runtime) State(_ context.Context, id string) (*State, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return &State{Version: specs.Version, ID: id, Status: StatusCreating}, nil
	}
	st := &State{
		Version: specs.Version, ID: rec.ID, Status: r.status(rec), Bundle: rec.Bundle, Rootfs: rec.Rootfs,
		Created: rec.Created, Owner: "", Annotations: rec.Config.Annotations,
	}
	if st.Status == StatusStopped {
		st.ExitStatus = r.exitStatus(id)
	} else {
		st.Pid = rec.Init.Pid
	}
	return st, nil
}

// Spec returns the configuration a container was created with, with the
// resources of later updates.
func (r *Runtime) Spec(_ context.Context, id string) (*specs.Spec, error) {
	rec, err := r.loadCreated(id)
	if err != nil {
		return nil, err
	}
	return rec.Config, nil
}

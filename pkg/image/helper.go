package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"go.podman.io/image/v5/docker/reference"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/internal/capped"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// HelperName is the executable that copies images in for crisp, installed
// beside crisp's own.
const HelperName = "crisp-image"

// Bounds of what the two sides of a Helper read from each other.
const (
	// MaxHelperRequest bounds the request crisp-image reads.
	MaxHelperRequest = 1 << 20
	// maxHelperResult bounds the answer Helper reads.
	maxHelperResult = 64 << 10
)

// helperGrace is how long a cancelled crisp-image has to remove what it
// staged before it is killed.
const helperGrace = 10 * time.Second

// Helper is the Copier that runs each pull and load in crisp-image, a
// process of its own. The registry, signature and compression code
// (pkg/image/transfer) then stays out of the daemon's binary, which a node
// keeps in memory all the time, and a pull's heap goes away with its
// process. The Store around it still shares downloads, bounds pulls in time
// and removes the layers of a failed one.
type Helper struct {
	// Path is crisp-image's executable.
	Path string
}

// HelperBeside returns the Helper whose crisp-image is beside the running
// executable, and an error if it cannot be run there (yet): the Helper then
// fails each copy until it is installed.
func HelperBeside() (Helper, error) {
	self, err := os.Executable()
	if err != nil {
		return Helper{Path: HelperName}, fmt.Errorf("find %s: %w", HelperName, err)
	}
	h := Helper{Path: filepath.Join(filepath.Dir(self), HelperName)}
	if err := unix.Access(h.Path, unix.X_OK); err != nil {
		return h, fmt.Errorf("%s, which copies images in, cannot be run beside %s: %w (%w)", HelperName, self, err, errdefs.ErrFailedPrecondition)
	}
	return h, nil
}

// HelperRequest is what a Helper asks of crisp-image, as JSON on its
// standard input: registry credentials never appear in its arguments or
// environment.
type HelperRequest struct {
	Storage HelperStorage `json:"storage"`
	// Pull, or Load (an archive's path), is what to copy in.
	Pull *HelperPull `json:"pull,omitempty"`
	Load string      `json:"load,omitempty"`
}

// HelperStorage are the Options crisp-image opens the caller's storage
// with.
type HelperStorage struct {
	Root              string        `json:"root"`
	RunRoot           string        `json:"run_root"`
	Driver            string        `json:"driver"`
	RegistriesConf    string        `json:"registries_conf,omitempty"`
	RegistriesConfDir string        `json:"registries_conf_dir,omitempty"`
	SignaturePolicy   string        `json:"signature_policy,omitempty"`
	ProgressInterval  time.Duration `json:"progress_interval,omitempty"`
}

// Options returns the Options of the storage, with copier.
func (h HelperStorage) Options(copier Copier) Options {
	return Options{
		Root:              h.Root,
		RunRoot:           h.RunRoot,
		Driver:            h.Driver,
		RegistriesConf:    h.RegistriesConf,
		RegistriesConfDir: h.RegistriesConfDir,
		SignaturePolicy:   h.SignaturePolicy,
		ProgressInterval:  h.ProgressInterval,
		Copier:            copier,
	}
}

// HelperPull is a pull of a normalised reference.
type HelperPull struct {
	Ref  string `json:"ref"`
	Auth *Auth  `json:"auth,omitempty"`
}

// HelperResult is crisp-image's answer, as JSON on its standard output.
type HelperResult struct {
	// IDs are the image pulled, or the images loaded.
	IDs []string `json:"ids,omitempty"`
	// Downloaded is the bytes of blobs a pull downloaded.
	Downloaded uint64 `json:"downloaded,omitempty"`
	// Error is why it failed, and Class its errdefs class, if it has one.
	Error string `json:"error,omitempty"`
	Class string `json:"class,omitempty"`
}

// Err returns the failure the result reports, nil if it reports none.
func (r *HelperResult) Err() error {
	if r.Error == "" {
		return nil
	}
	if c := errdefs.ClassNamed(r.Class); c != nil {
		return fmt.Errorf("%s (%w)", r.Error, c)
	}
	return errors.New(r.Error)
}

// Pull runs the pull in crisp-image.
func (h Helper) Pull(ctx context.Context, s *Store, named reference.Named, auth *Auth) (string, uint64, error) {
	res, err := h.run(ctx, s, HelperRequest{Pull: &HelperPull{Ref: named.String(), Auth: auth}})
	if err != nil {
		return "", 0, fmt.Errorf("pull %s: %w", named, err)
	}
	if len(res.IDs) != 1 {
		return "", 0, fmt.Errorf("pull %s: %s answered %d images", named, HelperName, len(res.IDs))
	}
	return res.IDs[0], res.Downloaded, nil
}

// Load runs the load in crisp-image.
func (h Helper) Load(ctx context.Context, s *Store, file string) ([]string, error) {
	res, err := h.run(ctx, s, HelperRequest{Load: file})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	return res.IDs, nil
}

// run starts crisp-image with req, waits for its answer and returns it.
// Its log goes to this process's standard error. Cancelling ctx asks it to
// stop (SIGTERM) and kills it after helperGrace; it is killed too if this
// process dies.
func (h Helper) run(ctx context.Context, s *Store, req HelperRequest) (*HelperResult, error) {
	req.Storage = HelperStorage{
		Root:              s.opts.Root,
		RunRoot:           s.opts.RunRoot,
		Driver:            s.driver,
		RegistriesConf:    s.opts.RegistriesConf,
		RegistriesConfDir: s.opts.RegistriesConfDir,
		SignaturePolicy:   s.opts.SignaturePolicy,
		ProgressInterval:  s.opts.ProgressInterval,
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxHelperRequest {
		return nil, fmt.Errorf("request for %s longer than %d bytes: %w", HelperName, MaxHelperRequest, errdefs.ErrInvalidArgument)
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Stdin = bytes.NewReader(body)
	out := &capped.Buffer{Max: maxHelperResult}
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = helperGrace
	startErr := cmd.Start()
	var runErr error
	if startErr == nil {
		runErr = cmd.Wait()
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("timed out: %w (%w)", err, errdefs.ErrDeadlineExceeded)
		}
		return nil, fmt.Errorf("cancelled: %w", err)
	}
	if startErr != nil {
		return nil, fmt.Errorf("%s cannot run: %w (%w)", HelperName, startErr, errdefs.ErrFailedPrecondition)
	}
	if out.Overflowed() {
		return nil, fmt.Errorf("%s answered more than %d bytes", HelperName, maxHelperResult)
	}
	var res HelperResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("%s gave no answer (%v): %w", HelperName, runErr, err)
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	if runErr != nil {
		return nil, fmt.Errorf("%s: %w", HelperName, runErr)
	}
	return &res, nil
}

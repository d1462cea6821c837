package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
	"github.com/crisp-runtime/crisp/pkg/timerslack"
)

// defaultHookTimeout bounds a hook that sets no timeout of its own.
const defaultHookTimeout = 2 * time.Minute

// maxHookTimeout bounds a hook's own timeout: longer is a mistake, and a
// bound keeps its conversion to a duration (and the C stage's milliseconds)
// from overflowing. The C stage saturates at the same bound.
const maxHookTimeout = 24 * time.Hour

// checkHooks validates the hooks of a spec.
func checkHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	for name, list := range map[string][]specs.Hook{
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime, "createContainer": h.CreateContainer,
		"startContainer": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	} {
		for i, hook := range list {
			field := fmt.Sprintf("hooks.%s[%d]", name, i)
			if !filepath.IsAbs(hook.Path) {
				return errdefs.InvalidField(field+".path", fmt.Sprintf("%q is not an absolute path", hook.Path))
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return errdefs.InvalidField(field+".timeout", "must be positive")
			}
			if hook.Timeout != nil && int64(*hook.Timeout) > int64(maxHookTimeout/time.Second) {
				return errdefs.InvalidField(field+".timeout", fmt.Sprintf("%d seconds is longer than %s", *hook.Timeout, maxHookTimeout))
			}
		}
	}
	return nil
}

// eachHook calls fn for each hook in order with the container's state
// encoded for the hook's stdin; the first failure stops the sequence.
func eachHook(name string, hooks []specs.Hook, state *specs.State, fn func(i int, h specs.Hook, input []byte) error) error {
	if len(hooks) == 0 {
		return nil
	}
	input, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode state for %s hooks: %w", name, err)
	}
	for i, h := range hooks {
		if err := fn(i, h, input); err != nil {
			return err
		}
	}
	return nil
}

// runHooks runs hooks in order, each with the state on its stdin. The
// first failure stops the sequence.
func runHooks(ctx context.Context, slack time.Duration, name string, hooks []specs.Hook, state *specs.State) error {
	return eachHook(name, hooks, state, func(i int, h specs.Hook, input []byte) error {
		if err := runHook(ctx, slack, h, input); err != nil {
			return fmt.Errorf("%s hook %d (%s): %w", name, i, h.Path, err)
		}
		return nil
	})
}

// runHooksWarning runs poststart or poststop hooks, all of them: the spec
// wants a failing one logged and the others run as if it had succeeded.
func runHooksWarning(ctx context.Context, slack time.Duration, id, name string, hooks []specs.Hook, state *specs.State) {
	err := eachHook(name, hooks, state, func(i int, h specs.Hook, input []byte) error {
		if err := runHook(ctx, slack, h, input); err != nil {
			klog.ErrorS(err, "Hook failed", "id", id, "hook", fmt.Sprintf("%s %d", name, i), "path", h.Path)
		}
		return nil
	})
	if err != nil {
		klog.ErrorS(err, "Hooks not run", "id", id, "hooks", name)
	}
}

// compileHooks runs hooks from the container's init, in its namespaces,
// each with the state on its stdin.
func compileHooks(p *program, name string, hooks []specs.Hook, state *specs.State) error {
	return eachHook(name, hooks, state, func(i int, h specs.Hook, input []byte) error {
		timeout := int(defaultHookTimeout / time.Second)
		if h.Timeout != nil {
			timeout = *h.Timeout
		}
		args := append([]string{h.Path, num(timeout), string(input), num(len(h.Args))}, h.Args...)
		p.add(nsenter.OpHook, step{what: fmt.Sprintf("%s hook %d (%s)", name, i, h.Path)}, append(args, h.Env...)...)
		return nil
	})
}

func runHook(ctx context.Context, slack time.Duration, h specs.Hook, state []byte) error {
	timeout := defaultHookTimeout
	if h.Timeout != nil {
		timeout = time.Duration(*h.Timeout) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args, cmd.Env = args, h.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(state), &out, &out
	cmd.WaitDelay = time.Second
	if err := timerslack.With(slack, cmd.Start); err != nil {
		return err
	}
	err := cmd.Wait()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %s: %w", timeout, errdefs.ErrDeadlineExceeded)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

package spec

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/moby/sys/signal"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// StopSignal returns the signal that asks c's process to stop:
// config.stop_signal when set, else the image's StopSignal ("SIGQUIT",
// "QUIT", "3", "SIGRTMIN+3"), else SIGTERM.
func StopSignal(c *Container) (syscall.Signal, error) {
	if c == nil || c.Config == nil {
		return 0, errdefs.InvalidField("config", "must be set")
	}
	if s := c.Config.GetStopSignal(); s != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		sig, err := criSignal(s)
		if err != nil {
			return 0, errdefs.InvalidField("stop_signal", err.Error())
		}
		return sig, nil
	}
	if c.Image != nil && c.Image.StopSignal != "" {
		sig, err := parseSignal(c.Image.StopSignal)
		if err != nil {
			return 0, errdefs.InvalidField("image", fmt.Sprintf("the image's stop signal: %v", err))
		}
		return sig, nil
	}
	return syscall.SIGTERM, nil
}

// criSignal converts the CRI's enum, whose names are the signals' with a
// SIGNAL_ prefix and PLUS or MINUS for the real-time offsets
// (SIGNAL_SIGRTMINPLUS3).
func criSignal(s runtimeapi.Signal) (syscall.Signal, error) {
	name, ok := runtimeapi.Signal_name[int32(s)]
	if !ok {
		return 0, fmt.Errorf("unknown signal %d", s)
	}
	name = strings.TrimPrefix(name, "SIGNAL_")
	name = strings.NewReplacer("PLUS", "+", "MINUS", "-").Replace(name)
	return parseSignal(name)
}

// parseSignal reads a signal name, with or without "SIG", or number.
func parseSignal(s string) (syscall.Signal, error) {
	sig, err := signal.ParseSignal(s)
	if err != nil {
		return 0, err
	}
	// ParseSignal takes any number.
	if sig < 1 || sig > 64 {
		return 0, fmt.Errorf("invalid signal: %s", s)
	}
	return sig, nil
}

package spec

import (
	"syscall"
	"testing"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestStopSignal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config runtimeapi.Signal
		image  string
		want   syscall.Signal
		field  string
	}{
		{"default", 0, "", syscall.SIGTERM, ""},
		{"image name", 0, "SIGQUIT", syscall.SIGQUIT, ""},
		{"image short name", 0, "quit", syscall.SIGQUIT, ""},
		{"image number", 0, "3", syscall.SIGQUIT, ""},
		{"image real-time", 0, "SIGRTMIN+3", 37, ""},
		{"image nonsense", 0, "SIGFOO", 0, "image"},
		{"image number out of range", 0, "99", 0, "image"},
		{"config wins", runtimeapi.Signal_SIGNAL_SIGUSR1, "SIGQUIT", syscall.SIGUSR1, ""},
		{"config real-time", runtimeapi.Signal_SIGNAL_SIGRTMINPLUS1, "", 35, ""},
		{"config real-time max", runtimeapi.Signal_SIGNAL_SIGRTMAXMINUS1, "", 63, ""},
		{"config unknown", 200, "", 0, "stop_signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Container{Config: &runtimeapi.ContainerConfig{StopSignal: tc.config}, Image: &imgspecv1.ImageConfig{StopSignal: tc.image}}
			got, err := StopSignal(c)
			checkFieldError(t, err, tc.field)
			if got != tc.want {
				t.Errorf("StopSignal = %d, want %d", got, tc.want)
			}
		})
	}
}

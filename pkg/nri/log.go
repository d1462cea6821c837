package nri

import (
	"context"
	"fmt"

	nrilog "github.com/containerd/nri/pkg/log"
	"k8s.io/klog/v2"
)

// klogger sends the NRI library's messages to klog, with the daemon's
// other messages, instead of the library's own logrus output.
type klogger struct{}

func (klogger) Debugf(_ context.Context, format string, args ...any) {
	klog.V(4).InfoS(fmt.Sprintf(format, args...), "component", "nri")
}

func (klogger) Infof(_ context.Context, format string, args ...any) {
	klog.V(2).InfoS(fmt.Sprintf(format, args...), "component", "nri")
}

func (klogger) Warnf(_ context.Context, format string, args ...any) {
	klog.InfoS(fmt.Sprintf(format, args...), "component", "nri", "level", "warning")
}

func (klogger) Errorf(_ context.Context, format string, args ...any) {
	klog.ErrorS(nil, fmt.Sprintf(format, args...), "component", "nri")
}

var _ nrilog.Logger = klogger{}
